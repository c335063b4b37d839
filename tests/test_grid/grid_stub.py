"""A cheap stand-in for tools/train.py, export_backbone.py and transfer_report.py in grid tests.

    python stub_train.py CONFIG --work-dir W [--cfg-options ...] [--resume]
    python stub_export.py SRC OUT
    python stub_report.py DIR... --out OUT --force

(copies of this file: the tool is read from the file name).

Every call appends one JSON line to $GRID_STUB_LOG. "train" trains two fake epochs, writing
epoch_<k>.pth and last_checkpoint like mmengine, and skips the epochs a --resume finds on disk.
When the work dir contains $GRID_STUB_HANG, it writes $GRID_STUB_READY (its pid) after epoch 1
and sleeps, waiting to be killed.
"""
import json
import os
import os.path as osp
import sys
import time


def log(entry: dict) -> None:
    with open(os.environ['GRID_STUB_LOG'], 'a') as f:
        f.write(json.dumps(entry) + '\n')


def train(argv):
    work_dir = argv[argv.index('--work-dir') + 1]
    resume = '--resume' in argv
    os.makedirs(work_dir, exist_ok=True)
    trained = []
    for epoch in (1, 2):
        ckpt = osp.join(work_dir, f'epoch_{epoch}.pth')
        if resume and osp.isfile(ckpt):
            continue
        with open(ckpt, 'w') as f:
            f.write('fake')
        with open(osp.join(work_dir, 'last_checkpoint'), 'w') as f:
            f.write(ckpt)
        trained.append(epoch)
        log(dict(tool='train', work_dir=work_dir, resume=resume, epoch=epoch))
        hang = os.environ.get('GRID_STUB_HANG')
        if epoch == 1 and hang and hang in work_dir:
            with open(os.environ['GRID_STUB_READY'], 'w') as f:
                f.write(str(os.getpid()))
            time.sleep(120)
    log(dict(tool='train_end', work_dir=work_dir, resume=resume, trained=trained, argv=argv))


def main(argv=None):
    tool = osp.basename(sys.argv[0])[len("stub_"):-len(".py")]
    argv = sys.argv[1:] if argv is None else argv
    if tool == 'train':
        train(argv)
    elif tool == 'export':
        with open(argv[0]) as f:  # the student's final checkpoint must exist
            f.read()
        with open(argv[1], 'w') as f:
            f.write('backbone')
        log(dict(tool='export', src=argv[0], out=argv[1]))
    else:
        log(dict(tool='report', argv=argv))


if __name__ == '__main__':
    main()
