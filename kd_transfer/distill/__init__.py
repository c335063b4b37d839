"""Distillation methods, one file each, registered in mmengine's root ``MODELS`` and in
:data:`DISTILL_METHODS` (short name -> class) by :func:`register_method`."""
from typing import Union

from mmengine.registry import MODELS

from .at import ATLoss
from .base import DistillLoss, warmup_factor
from .dkd import DKDLoss
from .fitnets import FitNetsLoss
from .focal_kd import FocalCalibKDLoss
from .gld import GLDLoss
from .kd import KDLoss
from .names import DISTILL_METHODS, method_name, methods_name, register_method
from .reviewkd import ABF, ABFChain, ReviewKDLoss, hcl_loss

def build_distill_loss(cfg: Union[dict, str, DistillLoss]) -> DistillLoss:
    """Build a distillation loss from a config.

    Args:
        cfg (dict | str | DistillLoss): ``dict(type=..., **kwargs)`` where ``type`` is a
            short name of :data:`DISTILL_METHODS` (``'kd'``) or a class name
            (``'KDLoss'``); a bare name; or an already built loss (returned as is).

    Returns:
        DistillLoss: the loss module.
    """
    if isinstance(cfg, DistillLoss):
        return cfg
    if isinstance(cfg, str):
        cfg = dict(type=cfg)
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise ValueError(f'build_distill_loss: expected a dict with a "type" key, got {cfg!r}')
    cfg = dict(cfg)
    name = cfg.pop('type')
    class_name = DISTILL_METHODS.get(name, name)
    if class_name not in DISTILL_METHODS.values():
        known = ', '.join(f'{k!r} ({v})' for k, v in DISTILL_METHODS.items())
        raise ValueError(f'build_distill_loss: unknown distillation method {name!r}; '
                         f'known methods: {known}')
    return MODELS.build(dict(type=class_name, **cfg))


__all__ = [
    'DistillLoss', 'warmup_factor', 'KDLoss', 'FitNetsLoss', 'ATLoss', 'DKDLoss', 'ReviewKDLoss',
    'ABF', 'ABFChain', 'hcl_loss', 'GLDLoss', 'FocalCalibKDLoss', 'DISTILL_METHODS',
    'build_distill_loss', 'register_method', 'method_name', 'methods_name'
]
