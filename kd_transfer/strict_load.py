"""Strict loading of the checkpoints that are scored (``tools/test.py``) or trained from
(``tools/train.py --resume`` / ``load_from``).

mmengine's ``Runner.load_checkpoint`` loads with ``strict=False``: a checkpoint of another
model (a resnet56 checkpoint in a resnet20 config, a detector, an exported backbone of
which no key fits) only logs a warning, and ``tools/test.py`` prints the metrics of a
randomly initialised model, exit 0; a ``--resume`` with another model's checkpoint fails
later in the optimizer with a cryptic traceback. :class:`StrictLoadHook` runs in
``after_load_checkpoint``, i.e. after the file is read and before any weight is copied, and
refuses every mismatch with the counts and first keys of each kind.
"""
import re
from typing import Any, Dict, List, Sequence, Tuple

import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


class CheckpointMismatchError(ValueError):
    """A checkpoint's weights do not fit the model that is to be scored or trained."""


def _few(items: Sequence[str], n: int = 5) -> str:
    items = list(items)
    return '[' + ', '.join(items[:n]) + (f' ... (+{len(items) - n} more)' if len(items) > n
                                        else '') + ']'


def checkpoint_state(checkpoint: Any,
                     revise_keys: Sequence[Tuple[str, str]] = ((r'^module\.', ''), )
                     ) -> Dict[str, torch.Tensor]:
    """The state dict mmengine would load: ``checkpoint['state_dict']`` (or the checkpoint
    itself), with the ``revise_keys`` renames applied (DataParallel's ``module.`` stripped)."""
    state = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        return {}
    out = {}
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            continue
        for pattern, repl in revise_keys:
            key = re.sub(pattern, repl, key)
        out[key] = value
    return out


def state_mismatch(model: torch.nn.Module, state: Dict[str, torch.Tensor]
                   ) -> Tuple[List[str], List[str], List[str]]:
    """``(missing, unexpected, mis_shaped)`` keys of ``state`` against ``model.state_dict()``.

    A missing BatchNorm ``num_batches_tracked`` is not counted: torch fills it in when it
    loads an older state dict strictly.
    """
    own = model.state_dict()
    missing = sorted(k for k in own if k not in state and not k.endswith('num_batches_tracked'))
    unexpected = sorted(k for k in state if k not in own)
    mis_shaped = sorted(f'{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}'
                        for k in own if k in state and state[k].shape != own[k].shape)
    return missing, unexpected, mis_shaped


def check_checkpoint_fits(model: torch.nn.Module, checkpoint: Any, filename: str = '',
                          what: str = 'the model of the config') -> None:
    """Raise unless ``checkpoint`` loads strictly into ``model``.

    Raises:
        CheckpointMismatchError: Names the file and gives the number and the first keys of the
            missing, unexpected and mis-shaped entries.
    """
    state = checkpoint_state(checkpoint)
    missing, unexpected, mis_shaped = state_mismatch(model, state)
    if not (missing or unexpected or mis_shaped):
        from .hooks.finite_loss import nonfinite_tensors
        bad = nonfinite_tensors(state)
        if bad:
            raise CheckpointMismatchError(
                f'checkpoint {filename!r} holds NaN/Inf in {len(bad)} tensor(s) {_few(bad)}: '
                'scores or training from it would be meaningless. Use an earlier checkpoint of '
                'the run (its last_checkpoint history) or retrain.')
        return
    hint = ''
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    if isinstance(meta, dict) and isinstance(meta.get('kd_transfer'), dict):
        hint = (' It is an exported backbone: give it to a transfer config with '
                '--cfg-options model.backbone.init_cfg.checkpoint=PATH, not as a checkpoint '
                'of the whole model.')
    elif not state:
        hint = ' It holds no state dict.'
    elif len(missing) == len([k for k in model.state_dict()
                              if not k.endswith('num_batches_tracked')]):
        hint = ' None of its keys fit: it was written for another kind of model.'
    raise CheckpointMismatchError(
        f'checkpoint {filename!r} does not fit {what} ({type(model).__name__}): '
        f'{len(missing)} missing {_few(missing)}, {len(unexpected)} unexpected '
        f'{_few(unexpected)}, {len(mis_shaped)} mis-shaped {_few(mis_shaped, 3)}.{hint} '
        'Nothing was loaded; use the checkpoint of a run of this config (mmengine would have '
        'loaded the matching part and only warned).')


@HOOKS.register_module()
class StrictLoadHook(Hook):
    """Refuse a ``load_from`` / ``resume`` checkpoint that does not fit the runner's model.

    ``tools/train.py`` and ``tools/test.py`` add it to every run (``custom_hooks``); the
    check runs before mmengine copies any weight, so nothing is half-loaded.
    """

    priority = 'VERY_HIGH'

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        filename = getattr(runner, '_load_from', None) or ''
        check_checkpoint_fits(model, checkpoint, str(filename))


def add_strict_load_hook(cfg) -> None:
    """Append :class:`StrictLoadHook` to ``cfg.custom_hooks`` (once)."""
    hooks = list(cfg.get('custom_hooks', None) or [])
    if not any(isinstance(h, dict) and h.get('type') in ('StrictLoadHook', StrictLoadHook)
               for h in hooks):
        hooks.append(dict(type='StrictLoadHook'))
    cfg.custom_hooks = hooks


__all__ = ['CheckpointMismatchError', 'StrictLoadHook', 'add_strict_load_hook',
           'check_checkpoint_fits', 'checkpoint_state', 'state_mismatch']
