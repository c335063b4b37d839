"""Verification: the exported state dict loads strictly into the target backbone, is
finite, and never overwrites its source."""
import os.path as osp
from collections import OrderedDict
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
from torch import Tensor

from .formats import ExportError
from .keys import _archs, build_arch_model
from .sources import _few


def target_backbone(arch: str, keep_head: bool = False,
                    num_classes: Optional[int] = None) -> Tuple[nn.Module, dict, str]:
    """The module the exported weights must load into, its config and a description.

    ResNets -> mmdet's ``ResNet(depth, style='pytorch')`` (mmseg's ``ResNet`` has the same
    keys); other architectures -> themselves in backbone mode (every stage out). With
    ``keep_head`` the architecture itself in logits mode, with ``num_classes`` classes.
    """
    arch_cfg = _archs()[arch]
    if keep_head:
        model = build_arch_model(arch, num_classes=num_classes, out_indices=None)
        cfg = dict(arch_cfg, num_classes=num_classes or arch_cfg.get('num_classes'))
        return model, cfg, f'{arch_cfg["type"]} (with head)'
    if arch_cfg['type'] == 'TVResNet':
        import mmdet.models  # noqa: F401  (registers mmdet's ResNet)
        from mmdet.registry import MODELS as MMDET_MODELS
        cfg = dict(type='ResNet', depth=int(arch_cfg['depth']), out_indices=(0, 1, 2, 3),
                   style='pytorch')
        # _scope_: build in mmdet's registry whatever default scope another run left behind
        return MMDET_MODELS.build(dict(cfg, _scope_='mmdet')), cfg, 'mmdet ResNet (style=pytorch)'
    model = build_arch_model(arch, out_indices='all')
    cfg = {k: v for k, v in arch_cfg.items() if k not in ('init_cfg',)}
    cfg['out_indices'] = tuple(model.out_indices)
    return model, cfg, f'{arch_cfg["type"]} (backbone mode)'


def check_strict(state: Dict[str, Tensor], model: nn.Module, ignore_prefix: Optional[str],
                 what: str) -> None:
    """Raise unless ``state`` has exactly the keys and shapes of ``model`` (minus a prefix).

    Raises:
        ExportError: listing the first missing / unexpected / mis-shaped keys and their counts.
    """
    own = {k: tuple(v.shape) for k, v in model.state_dict().items()
           if not (ignore_prefix and k.startswith(ignore_prefix))}
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    mis_shaped = sorted(k for k in set(own) & set(state) if tuple(state[k].shape) != own[k])
    if missing or unexpected or mis_shaped:
        raise ExportError(
            f'the student weights do not load strictly into {what}: '
            f'{len(missing)} missing {_few(missing)}; {len(unexpected)} unexpected '
            f'{_few(unexpected)}; {len(mis_shaped)} mis-shaped '
            f'{_few([f"{k}: {tuple(state[k].shape)} vs {own[k]}" for k in mis_shaped])}')
    model.load_state_dict(
        {**{k: v for k, v in model.state_dict().items() if k not in own}, **state}, strict=True)


def fill_num_batches_tracked(state: Dict[str, Tensor], model: nn.Module) -> Dict[str, Tensor]:
    """Add the BatchNorm ``num_batches_tracked`` counters an older state dict lacks.

    torchvision weight files written before the counter existed have ``running_mean`` /
    ``running_var`` but no ``num_batches_tracked``; torch loads them strictly and sets the
    counter to 0 (``_BatchNorm._load_from_state_dict``). The same is done here, for the
    BatchNorm layers of ``model`` whose running statistics ``state`` holds.
    """
    out = OrderedDict(state)
    for key, value in model.state_dict().items():
        prefix = key[:-len('num_batches_tracked')]
        if key.endswith('num_batches_tracked') and key not in out and \
                f'{prefix}running_mean' in out:
            out[key] = torch.zeros_like(value, device='cpu')
    return out


def check_finite(state: Dict[str, Tensor], src: str) -> None:
    """Refuse weights holding NaN / Inf (a diverged run, a corrupted file).

    Raises:
        ExportError: Names the source and the first non-finite tensors.
    """
    bad = [k for k, v in state.items()
           if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        first = state[bad[0]]
        raise ExportError(
            f'{src!r}: {len(bad)} tensor(s) of the student hold NaN/Inf, e.g. {_few(bad, 3)} '
            f'({int(torch.isnan(first).sum())} NaN, {int(torch.isinf(first).sum())} Inf of '
            f'{first.numel()} values in {bad[0]!r}); the run diverged or the file is corrupt. '
            'Export an earlier checkpoint.')


def refuse_source_as_output(src: str, out: str) -> None:
    """Refuse an output that is the source file itself (same path, a symlink or a hard link
    to it): even with ``--force`` the training checkpoint (teacher, optimizer, head) would be
    replaced by the backbone-only file.

    Raises:
        ExportError: Names both paths.
    """
    same = src == out
    if not same and osp.exists(src) and osp.exists(out):
        try:
            same = osp.samefile(src, out)
        except OSError:
            same = False
    if same:
        raise ExportError(f'output {out!r} is the source checkpoint {src!r} itself (the same '
                          'file, a symlink or a hard link to it); choose another output path '
                          '(--force never replaces the source)')
