""":class:`StrictPretrainedInit` replaces mmengine's ``Pretrained`` initializer (applied by
:mod:`kd_transfer.patches`) (which loads
with ``strict=False`` and only *warns* on mismatching keys): a kd_transfer architecture, or
any module fed an exported kd_transfer backbone, is loaded strictly, and a checkpoint none
of whose keys fit is refused for every module. Other (upstream) loads behave as before.
An exported backbone whose recorded normalisation differs from the enclosing model's data
preprocessor is refused too (``init_cfg.allow_norm_mismatch=True`` opts out).
"""
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.model.weight_init import PretrainedInit

from .hooks.finite_loss import nonfinite_tensors


def _few(keys: Sequence[str], n: int = 6) -> str:
    keys = list(keys)
    return '[' + ', '.join(keys[:n]) + (f' ... (+{len(keys) - n} more)' if len(keys) > n
                                        else '') + ']'


def _state_of(ckpt: Any) -> Dict[str, torch.Tensor]:
    """The state dict mmengine's ``load_checkpoint`` would load (``module.`` stripped)."""
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else {}
    if not isinstance(state, dict):
        return {}
    return {(k[len('module.'):] if k.startswith('module.') else k): v
            for k, v in state.items() if isinstance(v, torch.Tensor)}


def pretrained_mismatch(module: torch.nn.Module, ckpt: Any) -> Tuple[List[str], List[str],
                                                                     List[str]]:
    """Keys that would not load: ``(missing, unexpected, mis_shaped)``.

    ``num_batches_tracked`` is ignored (as mmengine does); the classifier of a kd_transfer
    architecture in backbone mode (``out_indices`` set) may be missing, since exported
    backbones do not contain it.
    """
    state = _state_of(ckpt)
    own = {k: v for k, v in module.state_dict().items() if not k.endswith('num_batches_tracked')}
    head = None
    if getattr(module, 'out_indices', None) is not None and hasattr(module, 'classifier'):
        head = next((f'{n}.' for n, m in module.named_modules() if m is module.classifier), None)
    missing = sorted(k for k in own if k not in state and not (head and k.startswith(head)))
    unexpected = sorted(k for k in state if k not in own and not k.endswith('num_batches_tracked'))
    mis_shaped = sorted(f'{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}'
                        for k in own if k in state and state[k].shape != own[k].shape)
    return missing, unexpected, mis_shaped


class StrictPretrainedInit(PretrainedInit):
    """mmengine's ``Pretrained`` initializer that refuses silent partial loads.

    mmengine loads ``init_cfg=dict(type='Pretrained', checkpoint=...)`` with ``strict=False``:
    a backbone exported for another architecture, or a training checkpoint given instead of
    the exported backbone, only logs a warning and training starts from (partly) random
    weights. Before delegating to mmengine, this initializer compares the keys and refuses:

    * any mismatch (missing, unexpected or mis-shaped keys; the unused classifier of a
      kd_transfer backbone excepted) when the module is a kd_transfer architecture or the
      checkpoint is an exported kd_transfer backbone (``meta['kd_transfer']``);
    * for any other module, a checkpoint none of whose keys fit, or with mis-shaped keys
      (upstream partial loads, e.g. an ImageNet ResNet with its ``fc`` into mmdet's ResNet,
      stay allowed).

    An exported backbone also records the normalisation its student was trained with
    (``meta['kd_transfer']['normalisation']``); when the module is initialised from a model's
    ``init_weights`` (as the runner does), that model's ``data_preprocessor`` must normalise
    the same way (:func:`kd_transfer.normalisation.mismatch`), unless the init_cfg sets
    ``allow_norm_mismatch=True`` (a deliberate experiment).

    Registered as ``'Pretrained'`` (in place of mmengine's) by the ``strict_pretrained`` patch
    of :mod:`kd_transfer.patches` (``KD_PATCH_STRICT_PRETRAINED=0`` switches it off).

    Raises:
        ValueError: The message names the checkpoint, the module and the offending keys, or
            both normalisations.
    """

    def __init__(self, *args, allow_norm_mismatch: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.allow_norm_mismatch = allow_norm_mismatch

    def __call__(self, module: torch.nn.Module) -> None:
        if self.prefix is None and isinstance(self.checkpoint, str) and \
                osp.isfile(osp.expanduser(self.checkpoint)):
            from .models.arch_base import ArchBase
            from .safe_load import load_checkpoint_file
            ckpt = load_checkpoint_file(osp.expanduser(self.checkpoint), map_location='cpu')
            meta = ckpt.get('meta') if isinstance(ckpt, dict) else None
            exported = meta.get('kd_transfer') if isinstance(meta, dict) else None
            missing, unexpected, mis_shaped = pretrained_mismatch(module, ckpt)
            own = [k for k in module.state_dict() if not k.endswith('num_batches_tracked')]
            strict = isinstance(module, ArchBase) or isinstance(exported, dict)
            loaded_nothing = own and len(missing) == len(own)
            if (strict and (missing or unexpected or mis_shaped)) or mis_shaped or loaded_nothing:
                what = ''
                if isinstance(exported, dict):
                    what = (f' It was exported for {exported.get("arch")!r} '
                            f'(backbone {exported.get("backbone")}).')
                elif loaded_nothing:
                    what = (' None of its keys fit: is it a training checkpoint? Export the '
                            'student first with tools/export_backbone.py.')
                raise ValueError(
                    f'init_cfg Pretrained checkpoint {self.checkpoint!r} does not match '
                    f'{type(module).__name__}{_arch_hint(module)}: {len(missing)} missing '
                    f'{_few(missing)}, {len(unexpected)} unexpected {_few(unexpected)}, '
                    f'{len(mis_shaped)} mis-shaped {_few(mis_shaped, 3)}.{what} Nothing was '
                    'loaded (mmengine would have loaded the matching part and only warned).')
            bad = nonfinite_tensors(_state_of(ckpt))
            if bad:
                raise ValueError(
                    f'init_cfg Pretrained checkpoint {self.checkpoint!r} holds NaN/Inf in '
                    f'{len(bad)} tensor(s) {_few(bad)}; training from it would stop at the first '
                    'iteration with a non-finite loss. Re-export the backbone from a finite '
                    'checkpoint.')
            if isinstance(exported, dict) and not self.allow_norm_mismatch:
                _check_normalisation(self.checkpoint, exported, module)
        super().__call__(module)


def _enclosing_preprocessor(module: torch.nn.Module) -> Optional[torch.nn.Module]:
    """The ``data_preprocessor`` of the model whose ``init_weights`` is initialising
    ``module`` (found on the call stack), or None when ``module`` is initialised on its own."""
    import inspect
    frame = inspect.currentframe()
    try:
        while frame is not None:
            owner = frame.f_locals.get('self')
            pre = getattr(owner, 'data_preprocessor', None)
            if isinstance(owner, torch.nn.Module) and isinstance(pre, torch.nn.Module) and \
                    any(m is module for m in owner.modules()):
                return pre
            frame = frame.f_back
    finally:
        del frame
    return None


def _check_normalisation(checkpoint: str, exported: dict, module: torch.nn.Module) -> None:
    """Refuse a backbone trained under another normalisation than the model's preprocessor."""
    from . import normalisation as norm
    recorded = exported.get('normalisation')
    pre = _enclosing_preprocessor(module)
    if not isinstance(recorded, dict) or pre is None:
        return  # an export from before normalisation was recorded, or no model around it
    used = norm.of_preprocessor(pre)
    if norm.mismatch(recorded, used):
        raise ValueError(
            f'init_cfg Pretrained checkpoint {checkpoint!r} holds a {exported.get("arch")} '
            f'student trained with {norm.describe(recorded)}, but the model\'s data_preprocessor '
            f'feeds the backbone {norm.describe(used)}. Set model.data_preprocessor mean / std '
            f'(and bgr_to_rgb) to the recorded values, or add allow_norm_mismatch=True to the '
            f'backbone\'s init_cfg for a deliberate experiment.')


def _arch_hint(module: torch.nn.Module) -> str:
    depth = getattr(module, 'depth', None)
    return f' (depth {depth})' if isinstance(depth, int) else ''
