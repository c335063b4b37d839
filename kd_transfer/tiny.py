"""Shrink a transfer config to a seconds-long CPU smoke run on generated data.

``tiny_overrides(cfg, data_root, work_dir)`` is the one place that knows how to do this, so
tests and demos make the same run::

    cfg = tiny_overrides(Config.fromfile('configs/transfer/det/faster-rcnn_resnet18_fpn_voc07.py'),
                         data_root='/tmp/synthetic', work_dir='/tmp/run',
                         checkpoint='exported_resnet18.pth')
    runner = Runner.from_cfg(cfg)
    runner.train()          # max_iters training iterations, no validation inside
    metrics = runner.val()  # {'pascal_voc/mAP': ...}

What it changes, and nothing else (model, heads, losses, metrics stay the config's own):

* every string starting with ``data/`` (dataset roots, CocoMetric's ``ann_file``) is moved
  under ``data_root``, which holds ``VOCdevkit/`` and ``coco/`` as ``data/`` would;
* image sizes: detection ``Resize`` and segmentation ``RandomResize`` / test ``Resize`` to
  ``image_size``, crops / pads / the segmentor's ``data_preprocessor.size`` to ``crop_size``
  (default ``image_size // 2``), all divided by the student's ``input_downscale`` exactly as the config
  divides the full-size ones;
* loaders: training batch 2 (the ASPP image-pooling BatchNorm needs more than one value),
  batch 1 otherwise, no worker processes; validation on the first ``num_val`` images;
* detectors keep every scored box (``test_cfg.rcnn.score_thr = 0``): after two iterations no
  class clears upstream's 0.05 on 80 classes, and CocoMetric reports nothing for no boxes;
* schedule: ``max_iters`` iterations, constant lr, no checkpoint files, validation left to an
  explicit ``runner.val()``;
* the backbone weights: ``checkpoint`` through the documented
  ``model.backbone.init_cfg.checkpoint`` option, or no pretrained weights at all.
"""
import copy
import os.path as osp
from typing import Any, Optional

from mmengine.config import Config, ConfigDict


def _move_data_paths(node: Any, data_root: str) -> Any:
    """Return ``node`` with every ``'data/...'`` string rebased on ``data_root``."""
    if isinstance(node, str) and node.startswith('data/'):
        return osp.join(data_root, node[len('data/'):])
    if isinstance(node, dict):
        for key in list(node.keys()):
            node[key] = _move_data_paths(node[key], data_root)
        return node
    if isinstance(node, list):
        return [_move_data_paths(v, data_root) for v in node]
    if isinstance(node, tuple):
        return tuple(_move_data_paths(v, data_root) for v in node)
    return node


def _datasets(node: Any):
    """Yield every dataset config (a dict with a ``pipeline``) inside ``node``."""
    if isinstance(node, dict):
        if 'pipeline' in node:
            yield node
        for value in node.values():
            yield from _datasets(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _datasets(value)


def _tiny_pipeline(pipeline: list, size: int, crop: int) -> list:
    out = []
    for t in pipeline:
        t = dict(t)
        if t['type'] in ('Resize', 'RandomResize') and 'scale' in t:
            t['scale'] = (size, size)
        if 'crop_size' in t:
            t['crop_size'] = (crop, crop)
        if t['type'] == 'Pad' and 'size' in t:
            t['size'] = (crop, crop)
        out.append(t)
    return out


def tiny_overrides(cfg: Config, data_root: str, work_dir: str, checkpoint: Optional[str] = None,
                   image_size: int = 64, max_iters: int = 2, num_val: int = 4,
                   crop_size: Optional[int] = None) -> Config:
    """A copy of ``cfg`` for a tiny CPU run (see the module docstring).

    Args:
        cfg (Config): A transfer config (``configs/transfer/{det,seg}/*.py``).
        data_root (str): Directory standing in for ``data/`` (``VOCdevkit/``, ``coco/``...).
        work_dir (str): Work directory of the run.
        checkpoint (str, optional): Exported backbone, set as
            ``model.backbone.init_cfg.checkpoint``; None trains from scratch.
        image_size (int): Longest image side (before the student's ``input_downscale``).
        max_iters (int): Training iterations.
        num_val (int): Validation images.
        crop_size (int, optional): Training crop / pad size before the downscale (default
            ``image_size // 2``).

    Returns:
        Config: The modified copy.
    """
    cfg = copy.deepcopy(cfg)
    down = int(cfg.get('input_downscale', 1))
    crop_size = image_size // 2 if crop_size is None else crop_size
    size, crop = max(image_size // down, 8), max(crop_size // down, 8)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader', 'val_evaluator',
                'test_evaluator'):
        cfg[key] = _move_data_paths(cfg[key], str(data_root))
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg[key]
        loader.update(batch_size=2 if key == 'train_dataloader' else 1, num_workers=0,
                      persistent_workers=False)
        for dataset in _datasets(loader):
            dataset['pipeline'] = _tiny_pipeline(dataset['pipeline'], size, crop)
            if key != 'train_dataloader':
                dataset['indices'] = num_val
    if cfg.model.get('data_preprocessor', {}).get('size') is not None:  # segmentors pad to it
        cfg.model.data_preprocessor.size = (crop, crop)
    if cfg.model.get('test_cfg', {}).get('rcnn') is not None:
        cfg.model.test_cfg.rcnn.score_thr = 0.0
    if checkpoint is not None:
        cfg.merge_from_dict({'model.backbone.init_cfg.checkpoint': str(checkpoint)})
    else:
        cfg.model.backbone.init_cfg = None

    huge = 10**9
    cfg.train_cfg = ConfigDict(type='IterBasedTrainLoop', max_iters=max_iters,
                               val_interval=huge, val_begin=huge)
    cfg.param_scheduler = None
    cfg.log_processor = ConfigDict(type='LogProcessor', window_size=1, by_epoch=False)
    # iteration-based: validation records are logged at their iteration (mmseg's default;
    # mmdet's VOC / COCO configs are epoch-based and would log them at "epoch 0")
    cfg.default_hooks.logger = ConfigDict(type='LoggerHook', interval=1,
                                          log_metric_by_epoch=False)
    cfg.default_hooks.checkpoint = ConfigDict(type='CheckpointHook', interval=huge,
                                              by_epoch=False, save_last=False)
    cfg.work_dir = str(work_dir)
    cfg.launcher = 'none'
    cfg.randomness = ConfigDict(seed=0)
    cfg.env_cfg = ConfigDict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'),
                             mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0))
    return cfg
