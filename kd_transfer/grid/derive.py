"""Derived configs: a shipped config changed by a named transform, written before a job runs.

Some grids (the demo) run the project's configs on generated data with short schedules. What
``--cfg-options`` cannot express (pipelines, schedulers) is done by a transform: a spec entry
with ``derive=dict(type='short_cls', ...)`` makes the grid load the entry's config, apply the
transform, and write the result to ``<work_root>/.grid/configs/<job>.py``; the job's command
trains that file (seed and checkpoints stay on its command line). Transforms:

* ``short_cls``: a classification config on another data root with ``epochs`` epochs
  (one lr step at 3/4), ``batch``, no worker processes, a checkpoint at the end, warm-ups of
  distillation losses cut to 1 epoch;
* ``tiny_transfer``: :func:`kd_transfer.tiny.tiny_overrides` (data root, image size, crop size,
  iterations, validation images), plus what a grid needs from it: validation at the end, a
  final checkpoint; optionally ``lr`` (for the tiny batch itself: ``tools/train.py`` does not
  rescale it), a linear warm-up of ``warmup_iters``, fewer sampled RoIs in training
  (``rcnn_samples``), fewer proposals per test image (``test_proposals``) and gradient-norm
  clipping (``clip_grad``).

Register another with :data:`TRANSFORMS`. Shrinking a run changes its numbers, never its model.
"""
import os
import os.path as osp
from typing import Callable, Dict

TRANSFORMS: Dict[str, Callable] = {}


def transform(name: str) -> Callable:
    def wrap(fn: Callable) -> Callable:
        TRANSFORMS[name] = fn
        return fn
    return wrap


@transform('short_cls')
def short_cls(cfg, data_root: str, epochs: int, batch: int, val_batch: int = 250):
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].update(num_workers=0, persistent_workers=False,
                        batch_size=batch if key == 'train_dataloader' else val_batch)
        cfg[key].dataset.data_root = data_root
    cfg.train_cfg.max_epochs = epochs
    cfg.param_scheduler = [dict(type='MultiStepLR', by_epoch=True, gamma=0.1,
                                milestones=[max(1, int(epochs * 0.75))])]
    cfg.default_hooks.checkpoint.update(interval=epochs, save_best=None)
    cfg.default_hooks.logger.interval = 10
    cfg.log_processor = dict(window_size=10, by_epoch=True)
    if cfg.model.type == 'Distiller':
        for loss in cfg.model.distill_losses:
            if 'warmup' in loss:
                loss.warmup = 1
    return cfg


@transform('tiny_transfer')
def tiny_transfer(cfg, data_root: str, image_size: int, max_iters: int, num_val: int,
                  lr: float = None, warmup_iters: int = 0, rcnn_samples: int = None,
                  crop_size: int = None, test_proposals: int = None, clip_grad: float = None):
    from mmengine.config import ConfigDict

    from ..tiny import tiny_overrides
    checkpoint = cfg.model.backbone.get('init_cfg') or {}
    cfg = tiny_overrides(cfg, data_root=data_root, work_dir=cfg.get('work_dir') or 'work_dirs',
                         checkpoint=checkpoint.get('checkpoint'), image_size=image_size,
                         max_iters=max_iters, num_val=num_val, crop_size=crop_size)
    cfg.train_cfg.update(val_interval=max_iters, val_begin=1)
    cfg.default_hooks.checkpoint = ConfigDict(type='CheckpointHook', by_epoch=False,
                                              interval=max_iters, save_last=True)
    cfg.default_hooks.logger.interval = min(20, max_iters)
    cfg.log_processor = ConfigDict(type='LogProcessor', window_size=20, by_epoch=False)
    if lr is not None:  # the lr of the tiny batch itself: tools/train.py must not rescale it
        cfg.optim_wrapper.optimizer.lr = lr
        cfg.auto_scale_lr = ConfigDict(enable=False,
                                       base_batch_size=cfg.train_dataloader.batch_size)
    if warmup_iters:
        cfg.param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
                                    end=min(warmup_iters, max_iters))]
    if rcnn_samples and cfg.model.get('train_cfg', {}).get('rcnn') is not None:
        cfg.model.train_cfg.rcnn.sampler.num = rcnn_samples
        cfg.model.train_cfg.rpn_proposal.max_per_img = 300
    if clip_grad:  # gradient-norm clipping: a random backbone at batch 2 can diverge otherwise
        cfg.optim_wrapper.clip_grad = ConfigDict(max_norm=clip_grad, norm_type=2)
    if test_proposals and cfg.model.get('test_cfg', {}).get('rpn') is not None:
        # the RoI head on 1000 proposals per image is most of a CPU validation
        cfg.model.test_cfg.rpn.max_per_img = test_proposals
    cfg.pop('work_dir', None)  # the command line's --work-dir decides
    return cfg


def materialize(job) -> str:
    """Write the derived config of ``job`` (``job.argv[2]``) and return its path."""
    from mmengine.config import Config

    import kd_transfer  # noqa: F401  (registries, custom_imports of the configs)
    spec = dict(job.derive)
    source, kind = spec.pop('source'), spec.pop('type', None)
    if kind not in TRANSFORMS:
        raise ValueError(f'job {job.name!r}: derive.type {kind!r} is not one of '
                         f'{sorted(TRANSFORMS)}')
    target = job.argv[2]
    cfg = TRANSFORMS[kind](Config.fromfile(source), **spec)
    os.makedirs(osp.dirname(target), exist_ok=True)
    tmp = f'{target}.{os.getpid()}.tmp.py'
    cfg.dump(tmp)
    os.replace(tmp, target)
    return target
