"""The whole kd_transfer pipeline on generated data, on CPU, in minutes (``make demo``).

Stages (each prints its progress and timing):

1. generate the "shapes" world in the real VOC2007 / COCO2017 / CIFAR-100 formats;
2. classification on the CIFAR-format data with the project's configs: teacher resnet56,
   baseline resnet20, and resnet20 students distilled with KD, GLD and ReviewKD;
3. export every student (and the teacher) with the export tool's code;
4. Faster R-CNN (VOC2007 format) and DeepLabV3+ (VOC2007 segmentation) with each exported
   student as backbone, plus a Faster R-CNN distilled directly by the ReviewKD hook from a
   resnet56 Faster R-CNN teacher;
5. the transfer report over all the runs.

Every run uses the same config files a user trains on a GPU node; only data location, epochs
/ iterations, image sizes and loader settings are shrunk (:func:`shrink_cls` and
:func:`kd_transfer.tiny.tiny_overrides`).  The numbers are those of generated data and tiny
schedules: they show that the pipeline works, not what distillation is worth.
"""
import time
from pathlib import Path
from typing import Callable, Dict, Optional

from mmengine.config import Config

REPO = Path(__file__).resolve().parents[1]
TEACHER, STUDENT = 'resnet56', 'resnet20'
METHODS = ('kd', 'gld', 'reviewkd')
NOTE = ('Generated "shapes" data (tools/make_synthetic_data.py) and tiny CPU schedules '
        '(`make demo`): these numbers show that the pipeline runs end to end, they say nothing '
        'about the value of any distillation method.')

#: sizes of the default demo and of ``--quick`` (used by the tests)
PROFILES = {
    'default': dict(num_train=160, num_val=40, image_size=128, cifar_train=2000, cifar_test=500,
                    cls_epochs=4, cls_batch=64, det_iters=80, seg_iters=80, eval_images=40),
    'quick': dict(num_train=8, num_val=4, image_size=64, cifar_train=64, cifar_test=32,
                  cls_epochs=1, cls_batch=16, det_iters=2, seg_iters=2, eval_images=4),
}


class Progress:
    """Numbered stage lines with elapsed time, flushed immediately."""

    def __init__(self, total: int, log: Callable[[str], None] = print) -> None:
        self.total, self.done, self.start, self.log = total, 0, time.time(), log

    def step(self, what: str) -> None:
        self.done += 1
        self.log(f'[demo {self.done:2d}/{self.total} | {time.time() - self.start:6.0f} s] {what}')


def _runner(cfg: Config):
    from .launch import build_runner
    return build_runner(cfg)


def shrink_cls(cfg: Config, data_root: str, work_dir: str, epochs: int, batch: int) -> Config:
    """A classification config on the generated CIFAR data with a short schedule (the grid's
    ``short_cls``; warm-ups of 1 epoch: docs/methods.md's 20 do not fit a 4-epoch demo)."""
    from .grid.derive import short_cls
    cfg = short_cls(cfg, data_root, epochs, batch)
    # the recipe's lr scaled to the demo's batch (as tools/train.py does for every run)
    cfg.auto_scale_lr = dict(cfg.get('auto_scale_lr') or {}, enable=True)
    cfg.work_dir = work_dir
    return cfg


def _transfer(cfg_path: str, data: str, work_dir: str, backbone: Optional[str], iters: int,
              image_size: int, eval_images: int, hook_checkpoint: Optional[str] = None,
              save: bool = False) -> Config:
    from .tiny import tiny_overrides
    cfg = tiny_overrides(Config.fromfile(str(REPO / cfg_path)), data_root=data, work_dir=work_dir,
                         checkpoint=backbone, image_size=image_size, max_iters=iters,
                         num_val=eval_images)
    cfg.train_cfg.update(val_interval=iters, val_begin=1)  # validate once, at the end
    cfg.optim_wrapper.optimizer.lr = 0.02 if 'det' in cfg_path else 0.01
    cfg.auto_scale_lr = dict(enable=False,  # the demo's lr is for its own batch
                             base_batch_size=cfg.train_dataloader.batch_size)
    cfg.param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
                                end=min(20, iters))]
    if cfg.model.get('train_cfg', {}).get('rcnn') is not None:
        # 128 instead of 512 sampled RoIs per image: the RoI head's 12544 -> 1024 FC is most of
        # a CPU step on these tiny images (a demo shortcut, like the short schedule)
        cfg.model.train_cfg.rcnn.sampler.num = 128
        cfg.model.train_cfg.rpn_proposal.max_per_img = 300
    cfg.default_hooks.logger.interval = min(20, iters)
    cfg.log_processor = dict(type='LogProcessor', window_size=20, by_epoch=False)
    if save:
        cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False,
                                            interval=iters, save_last=True)
    if hook_checkpoint is not None:
        for hook in cfg.custom_hooks:
            if hook['type'] == 'ReviewKDHook':
                hook['teacher_checkpoint'] = hook_checkpoint
    return cfg


#: Marker file of a demo output directory, and everything the demo writes at its top level.
DEMO_MARKER = '.kd_transfer_demo'
DEMO_ENTRIES = {DEMO_MARKER, 'data', 'work_dirs', 'backbones', 'report'}


def refuse_foreign_demo_dir(out: Path) -> None:
    """Refuse ``--force`` on a directory the demo did not write (no marker, or other entries
    at its top level): ``tools/demo.py --out . --force`` must not delete the user's files."""
    entries = sorted(p.name for p in out.iterdir())
    foreign = [e for e in entries if e not in DEMO_ENTRIES]
    if DEMO_MARKER not in entries or foreign:
        shown = foreign or entries
        raise FileExistsError(
            f'{out} ' + ('holds files the demo did not write' if DEMO_MARKER in entries else
                         f'was not written by the demo (it has no {DEMO_MARKER})') +
            f': {", ".join(shown[:5])}' + (f' ... (+{len(shown) - 5} more)' if len(shown) > 5
                                            else '') +
            '; --force only replaces a demo output directory. Choose another --out.')


def run_demo(out_dir: str = 'demo_out', profile: str = 'default', force: bool = False,
             log: Callable[[str], None] = print) -> Path:
    """Run the demo into ``out_dir`` (data/, work_dirs/, backbones/, report/).

    Args:
        out_dir (str): Output directory; refused if it exists unless ``force``.
        profile (str): ``'default'`` (the README's ``make demo``) or ``'quick'`` (tests).
        force (bool): Replace an existing ``out_dir``.
        log (callable): Where progress lines go.

    Returns:
        Path: The report directory.
    """
    import shutil

    import torch

    from .datasets.synthetic import make_synthetic_data
    from .export import export_backbone
    from .report import build_report
    p = PROFILES[profile]
    out = Path(out_dir).resolve()
    if out.exists() and any(out.iterdir()):
        if not force:
            raise FileExistsError(f'{out} exists and is not empty: pass --force to replace it, '
                                  'or choose another --out')
        refuse_foreign_demo_dir(out)
        shutil.rmtree(out)
    work, backbones = out / 'work_dirs', out / 'backbones'
    backbones.mkdir(parents=True)
    (out / DEMO_MARKER).write_text('written by tools/demo.py; --force replaces this directory\n')
    torch.manual_seed(0)
    cls_runs = ['teacher', 'baseline', *METHODS]
    progress = Progress(1 + len(cls_runs) + 1 + 2 * (1 + len(METHODS)) + 2 + 1, log)

    progress.step(f'generating the shapes world into {out / "data"}')
    data = make_synthetic_data(out / 'data', seed=0, num_train=p['num_train'],
                               num_val=p['num_val'], image_size=p['image_size'],
                               cifar_train=p['cifar_train'], cifar_test=p['cifar_test'],
                               log=lambda msg: None)

    # ---- 2. classification ------------------------------------------------------------
    cls_dir = work / 'cls'
    configs = {'teacher': f'baseline_{TEACHER}', 'baseline': f'baseline_{STUDENT}',
               **{m: f'{m}_{TEACHER}_{STUDENT}' for m in METHODS}}
    last: Dict[str, str] = {}
    for name in cls_runs:
        cfg_path = REPO / 'configs' / 'distill' / 'cifar100' / f'{configs[name]}.py'
        progress.step(f'classification: {cfg_path.relative_to(REPO)} ({p["cls_epochs"]} epochs)')
        cfg = shrink_cls(Config.fromfile(str(cfg_path)), str(data / 'cifar100'),
                         str(cls_dir / name), p['cls_epochs'], p['cls_batch'])
        if cfg.model.type == 'Distiller':
            cfg.model.teacher_checkpoint = last['teacher']
        runner = _runner(cfg)
        runner.train()
        last[name] = str(Path(runner.work_dir) / f'epoch_{p["cls_epochs"]}.pth')
        top1 = runner.message_hub.get_scalar('val/cls/top1').current()
        log(f'           top-1 {top1:.1f}%  -> {last[name]}')

    # ---- 3. export -----------------------------------------------------------------------
    progress.step('exporting the students (and the teacher) as backbones')
    exported: Dict[str, str] = {}
    for name in cls_runs:
        target = backbones / f'{name}.pth'
        export_backbone(last[name], str(target))
        exported[name] = str(target)
        log(f'           {name:9s} -> {target}')

    # ---- 4. transfer -----------------------------------------------------------------------
    det_cfg = f'configs/transfer/det/faster-rcnn_{STUDENT}_fpn_voc07.py'
    seg_cfg = f'configs/transfer/seg/deeplabv3plus_{STUDENT}_voc07.py'
    size, n_eval = p['image_size'], p['eval_images']
    for task, cfg_path, iters in (('det', det_cfg, p['det_iters']),
                                  ('seg', seg_cfg, p['seg_iters'])):
        for name in ('baseline', *METHODS):
            progress.step(f'{task}: {cfg_path} with the {name} backbone ({iters} iterations)')
            cfg = _transfer(cfg_path, str(data), str(work / task / name), exported[name], iters,
                            size, n_eval)
            _runner(cfg).train()
    progress.step(f'det: teacher Faster R-CNN {TEACHER} for the ReviewKD hook '
                  f'({p["det_iters"]} iterations)')
    teacher_cfg = f'configs/transfer/det/faster-rcnn_{TEACHER}_fpn_voc07.py'
    cfg = _transfer(teacher_cfg, str(data), str(work / 'det' / 'teacher'), exported['teacher'],
                    p['det_iters'], size, n_eval, save=True)
    _runner(cfg).train()
    det_teacher = str(work / 'det' / 'teacher' / f'iter_{p["det_iters"]}.pth')
    progress.step(f'det: ReviewKD hook, Faster R-CNN {TEACHER} -> {STUDENT} '
                  f'(baseline backbone, {p["det_iters"]} iterations)')
    hook_cfg = f'configs/reviewkd/faster-rcnn_{TEACHER}-{STUDENT}_fpn_voc07.py'
    cfg = _transfer(hook_cfg, str(data), str(work / 'det' / 'reviewkd-hook'), exported['baseline'],
                    p['det_iters'], size, n_eval, hook_checkpoint=det_teacher)
    _runner(cfg).train()

    # ---- 5. report -----------------------------------------------------------------------
    progress.step('writing the transfer report')
    report_dir = out / 'report'
    build_report([str(work)], str(report_dir), note=NOTE)
    log(f'[demo] report: {report_dir / "report.md"} (also report.csv, report.json, *.png)')
    return report_dir
