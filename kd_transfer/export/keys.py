"""Architectures and their keys: building a registered architecture, its key signature,
the head prefix, and telling a source's architecture from its keys and shapes."""
from typing import Any, Dict, List, Optional, Tuple

import torch
import torch.nn as nn

from .formats import IMAGENET_TYPES, SOURCE_LAYOUTS, ExportError
from .sources import Extracted


def _archs() -> Dict[str, dict]:
    from kd_transfer.models import ARCHS
    return ARCHS


def arch_name_of(cfg: Any) -> Optional[str]:
    """The ARCHS short name of an architecture config (:mod:`kd_transfer.models.names`)."""
    from kd_transfer.models.names import arch_name_of as name_of
    return name_of(cfg)


def build_arch_model(arch: str, num_classes: Optional[int] = None,
                     out_indices: Any = 'all', device: Optional[str] = None) -> nn.Module:
    """Build a registered architecture by short name.

    Args:
        arch (str): Short name, a key of ``kd_transfer.models.ARCHS``.
        num_classes (int, optional): Overrides the table's number of classes.
        out_indices: ``'all'`` (backbone mode, every stage), ``None`` (logits mode) or indices.
        device (str, optional): ``'meta'`` builds without allocating memory.

    Returns:
        nn.Module: The architecture.
    """
    from mmengine.registry import MODELS
    cfg = dict(_archs()[arch])
    if num_classes is not None:
        cfg['num_classes'] = num_classes
    if out_indices == 'all':
        cfg['out_indices'] = None
        probe = _build(MODELS, cfg, 'meta')
        cfg['out_indices'] = tuple(range(len(probe.stage_channels) - 1))
    else:
        cfg['out_indices'] = out_indices
    return _build(MODELS, cfg, device)


def _build(registry, cfg: dict, device: Optional[str]) -> nn.Module:
    if device is None:
        return registry.build(dict(cfg))
    try:
        with torch.device(device):
            return registry.build(dict(cfg))
    except Exception:  # noqa: BLE001  (an architecture whose init cannot run on 'meta')
        return registry.build(dict(cfg))


def head_prefix(model: nn.Module) -> str:
    """Dotted prefix (``'fc.'``, ``'classifier.'``) of the module ``model.classifier`` is."""
    head = model.classifier
    for name, module in model.named_modules():
        if module is head and name:
            return name + '.'
    raise ExportError(f'{type(model).__name__}.classifier is not a submodule')


_SHAPES_CACHE: Dict[str, Tuple[Dict[str, Tuple[int, ...]], str]] = {}


def arch_signature(arch: str) -> Tuple[Dict[str, Tuple[int, ...]], str]:
    """State-dict shapes of an architecture without its head, and the head prefix."""
    if arch not in _SHAPES_CACHE:
        model = build_arch_model(arch, out_indices=None, device='meta')
        head = head_prefix(model)
        shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()
                  if not k.startswith(head)}
        _SHAPES_CACHE[arch] = (shapes, head)
    return _SHAPES_CACHE[arch]


def _formats_for(arch: str, ext: 'Extracted') -> List[str]:
    """The source format of ``ext`` if ``arch`` is its architecture.

    A bare state dict of an ImageNet architecture is torchvision's; of a CIFAR one, an
    mdistiller ``student_*`` file (``{'model': ...}`` and nothing else) or RepDistiller's
    (``{'model': ..., 'epoch': ..., 'best_acc' | 'accuracy': ...}``); the two share one layout.
    """
    if ext.fmt != 'bare':
        return [ext.fmt]
    if _archs()[arch]['type'] in IMAGENET_TYPES:
        return ['torchvision']
    from ..models import IMAGENET_ARCHS
    if arch in IMAGENET_ARCHS:  # MobileNet V1: the official ReviewKD / mdistiller ImageNet file
        return ['mdistiller']
    if ext.wrapper == 'model' and not ext.extras:
        return ['mdistiller']
    return ['repdistiller']


def infer_arch(ext: Extracted) -> List[Tuple[str, str]]:
    """Architectures (and formats) whose keys and shapes equal the student's, head excluded.

    Returns:
        list[tuple[str, str]]: ``(arch, fmt)`` pairs that match exactly.
    """
    matches = []
    for arch in _archs():
        for fmt in _formats_for(arch, ext):
            if fmt not in SOURCE_LAYOUTS.get(_archs()[arch]['type'], ()) and fmt != 'kd_transfer':
                continue
            shapes, head = arch_signature(arch)
            state = ext.state
            body = {k: tuple(v.shape) for k, v in state.items() if not k.startswith(head)}
            if _without_bn_counters(body) == _without_bn_counters(shapes):
                matches.append((arch, fmt))
    return matches


def _without_bn_counters(shapes: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in shapes.items() if not k.endswith('num_batches_tracked')}
