"""Issue 7, item 2: nothing lost -- atomic writes, and no silent overwrite of an output.

mmengine checkpoints killed mid-write: tests/test_fileio.py. Here: an exported
backbone and a report whose writer is SIGKILLed half-way, and every tool that writes an output
refusing to replace an existing one without ``--force`` (byte-for-byte untouched).
"""
import json
import signal
import textwrap
from pathlib import Path

import pytest
import torch

from kd_transfer.testing import helpers as hh

pytestmark = pytest.mark.usefixtures('one_thread', 'no_leftover_processes')



# ------------------------------------------------------------------- killed mid-write
def _cls_run(root: Path) -> Path:
    """A finished classification run dir as mmengine leaves it (config + scalars)."""
    run = root / 'baseline_resnet8'
    (run / '20250101_000000' / 'vis_data').mkdir(parents=True)
    (run / 'baseline_resnet8.py').write_text(
        "model = dict(type='KDClassifier', backbone=dict(type='CifarResNet', depth=8))\n"
        'randomness = dict(seed=0)\n'
        "train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1, val_interval=1)\n"
        "val_evaluator = dict(type='ClsCalibMetric')\n"
        "train_dataloader = dict(dataset=dict(type='CIFAR100Pickle', data_root='d'))\n")
    records = [dict(loss=1.0, lr=0.1, epoch=1, iter=1, step=1),
               {'cls/top1': 50.0, 'cls/ece': 0.1, 'step': 1}]
    (run / '20250101_000000' / 'vis_data' / 'scalars.json').write_text(
        '\n'.join(json.dumps(r) for r in records) + '\n')
    (run / '20250101_000000' / '20250101_000000.log').write_text('')
    return root


#: Prelude of the writer subprocesses: hang (and get SIGKILLed) while ``NAME`` is being
#: written, whichever way the writer does it: a ``torch.save`` straight into a file hangs
#: after half of the bytes; a write through a temporary file hangs in its ``os.fsync``,
#: when all bytes are written but not yet in place. A writer that opens ``NAME`` itself
#: without either never hangs, and the test fails on that too.
STALL = '''
import io, os, time, torch
NAME, MARKER = {name!r}, {marker!r}
def stall():
    open(MARKER, 'w').close()
    time.sleep(600)
real_fsync, real_save = os.fsync, torch.save
def fsync(fd):
    if NAME in os.readlink(f'/proc/self/fd/{{fd}}'):
        stall()
    return real_fsync(fd)
def save(obj, f, *args, **kwargs):
    if isinstance(f, io.BytesIO):
        return real_save(obj, f, *args, **kwargs)
    buf = io.BytesIO()
    real_save(obj, buf)
    f = open(f, 'wb') if isinstance(f, (str, os.PathLike)) else f
    f.write(buf.getvalue()[:len(buf.getvalue()) // 2])
    f.flush()
    stall()
os.fsync, torch.save = fsync, save
'''
CHILD_EXPORT = STALL + '''
from kd_transfer.export import export_backbone
export_backbone({src!r}, {out!r}, force=True)
'''
CHILD_REPORT = STALL + '''
from kd_transfer.report import build_report
build_report([{runs!r}], {out!r}, force=True)
'''


@pytest.fixture(scope='module')
def killed_writers(tmp_path_factory):
    """Write an exported backbone and a report, then SIGKILL a second writer of each while it
    is writing over them (both children run at once)."""
    from kd_transfer.export import export_backbone
    from kd_transfer.models import build_arch
    from kd_transfer.report import build_report
    tmp = tmp_path_factory.mktemp('killed')
    src = tmp / 'student.pth'
    torch.manual_seed(0)
    torch.save({'model': build_arch('resnet8').state_dict()}, src)
    out = tmp / 'backbone.pth'
    export_backbone(str(src), str(out))
    runs, report_dir = _cls_run(tmp / 'runs'), tmp / 'report'
    build_report([str(runs)], str(report_dir), date='before')
    before = {p: p.read_bytes() for p in [out, *report_dir.glob('report.*')]}
    children = []
    for name, code in (('export', CHILD_EXPORT.format(src=str(src), out=str(out),
                                                      name='backbone.pth',
                                                      marker=str(tmp / 'export.writing'))),
                       ('report', CHILD_REPORT.format(runs=str(runs), out=str(report_dir),
                                                      name='report.md',
                                                      marker=str(tmp / 'report.writing')))):
        proc = hh.start_tool(['-c', textwrap.dedent(code)], tmp / f'{name}.log')
        children.append((proc, tmp / f'{name}.writing'))
    for proc, marker in children:
        hh.wait_for(marker, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    return dict(out=out, report_dir=report_dir, before=before, tmp=tmp)


def test_export_killed_mid_write_leaves_previous_backbone(killed_writers):
    from kd_transfer.safe_load import load_checkpoint_file
    out = killed_writers['out']
    assert out.read_bytes() == killed_writers['before'][out]
    state = load_checkpoint_file(str(out))
    assert state['meta']['kd_transfer']['arch'] == 'resnet8'
    assert 'conv1.weight' in state['state_dict']


def test_report_killed_mid_write_leaves_previous_report(killed_writers):
    md = killed_writers['report_dir'] / 'report.md'
    assert md.read_bytes() == killed_writers['before'][md]
    assert 'before' in md.read_text()


# -------------------------------------------------------------- existing outputs kept
def _existing(path: Path, is_dir: bool = False) -> Path:
    """Put a sentinel where the tool would write."""
    target = path / 'keep.txt' if is_dir else path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b'precious')
    return target


CASES = ['export_backbone', 'transfer_report', 'make_synthetic_data', 'coco_to_semseg',
         'test --out', 'train work dir']


@pytest.mark.parametrize('tool', CASES)
def test_existing_output_is_not_overwritten_without_force(tool, tmp_path, capsys,
                                                          synthetic_data, cls_config):
    """Each tool refuses, says how to proceed (--force / a new name / --resume), and leaves
    the existing bytes untouched."""
    if tool == 'export_backbone':
        from kd_transfer.models import build_arch
        src = tmp_path / 'src.pth'
        torch.save({'model': build_arch('resnet8').state_dict()}, src)
        kept = _existing(tmp_path / 'out.pth')
        rc = hh.load_tool(tool).main([str(src), str(kept)])
    elif tool == 'transfer_report':
        kept = _existing(tmp_path / 'report' / 'report.md')
        rc = hh.load_tool(tool).main([str(_cls_run(tmp_path / 'runs')), '--out',
                                      str(tmp_path / 'report')])
    elif tool == 'make_synthetic_data':
        kept = _existing(tmp_path / 'data', is_dir=True)
        rc = hh.load_tool(tool).main([str(tmp_path / 'data'), '--num-train', '2', '--num-val',
                                      '2', '--cifar-train', '2', '--cifar-test', '2'])
    elif tool == 'coco_to_semseg':
        kept = _existing(tmp_path / 'masks', is_dir=True)
        rc = hh.load_tool(tool).main([str(synthetic_data / 'coco'), '--splits', 'val2017',
                                      '--out', str(tmp_path / 'masks')])
    elif tool == 'test --out':
        kept = _existing(tmp_path / 'preds.pkl')
        ckpt = tmp_path / 'model.pth'
        torch.save({'state_dict': {}}, ckpt)
        with pytest.raises(FileExistsError, match=r"preds\.pkl.*new name") as err:
            hh.load_tool('test').main([str(cls_config(iters=1)), str(ckpt), '--out', str(kept),
                                       '--work-dir', str(tmp_path / 'work')])
        rc, capsys_err = 1, str(err.value)
    else:  # a second training run in a work dir holding the first one's checkpoints
        kept = _existing(tmp_path / 'work' / 'epoch_1.pth')
        with pytest.raises(FileExistsError, match=r"work.*epoch_1\.pth.*--resume.*--force") as err:
            hh.load_tool('train').main([str(cls_config(iters=1)), '--work-dir',
                                        str(tmp_path / 'work')])
        rc, capsys_err = 1, str(err.value)
    if tool not in ('test --out', 'train work dir'):
        capsys_err = capsys.readouterr().err
        assert '--force' in capsys_err, capsys_err
    assert rc == 1
    assert kept.read_bytes() == b'precious'
