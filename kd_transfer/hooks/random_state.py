""":class:`RandomStateHook` stores the python / numpy / torch random states in every
checkpoint and restores them on ``--resume``, so an epoch-based run continues bit for bit
(also in ``configs/_base_/cls/runtime.py``).
"""
import random
from typing import Any, Optional

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS


def get_rng_state() -> dict:
    """The global random states (python, numpy, torch CPU and CUDA) as checkpointable values.

    The torch states are stored as numpy ``uint8`` arrays, not tensors: mmengine resumes with
    ``map_location='cuda'`` (or any device the user names), which would move tensor states to
    the GPU, where ``torch.set_rng_state`` refuses them. Arrays are never moved.
    """
    state = dict(python=random.getstate(), numpy=np.random.get_state(),
                 torch=torch.get_rng_state().numpy().copy())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = [s.cpu().numpy().copy() for s in torch.cuda.get_rng_state_all()]
    return state


def _byte_tensor(value: Any, what: str) -> torch.Tensor:
    """A CPU ``uint8`` tensor from a stored state (numpy array, or a tensor on any device)."""
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value.astype(np.uint8, copy=True))
    if isinstance(value, torch.Tensor):
        if value.device.type == 'meta':
            raise ValueError(f'random state {what!r} was loaded onto the meta device: its '
                             'values are gone; load the checkpoint with a real map_location')
        return value.detach().to('cpu', torch.uint8)
    raise TypeError(f'random state {what!r} has type {type(value).__name__}, expected a numpy '
                    'array or a tensor')


def set_rng_state(state: dict) -> None:
    """Restore what :func:`get_rng_state` returned (also its older tensor form, on any device).

    CUDA states are restored for the devices visible now; when fewer GPUs are visible than
    when the checkpoint was written, the extra states are skipped with a warning.
    """
    random.setstate(tuple(tuple(s) if isinstance(s, list) else s for s in state['python']))
    np.random.set_state(tuple(state['numpy']))
    torch.set_rng_state(_byte_tensor(state['torch'], 'torch'))
    cuda = state.get('cuda')
    if cuda is not None and len(cuda) and torch.cuda.is_available():
        visible = torch.cuda.device_count()
        for index, value in enumerate(list(cuda)[:visible]):
            torch.cuda.set_rng_state(_byte_tensor(value, f'cuda:{index}'), index)
        if len(cuda) > visible:
            print_log(f'RandomStateHook: the checkpoint holds CUDA random states of {len(cuda)} '
                      f'devices, {visible} visible now; restored the first {visible}',
                      logger='current', level=30)


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Checkpoint the global random states so an epoch-based run resumes bit for bit.

    mmengine checkpoints weights, optimizer, schedulers and the message hub, not the random
    number generators. An epoch-based run resumes at an epoch boundary and draws its data
    augmentation (e.g. ``CIFAR100Pickle``'s random crop and flip, which run in the main
    process when ``num_workers=0``) from a generator that no longer is where the
    uninterrupted run's was, so the resumed run sees other crops and ends with other
    weights. This hook stores the python / numpy / torch (and CUDA) states in every
    checkpoint (``checkpoint['rng_state']``) and restores them before the first epoch after
    ``resume``.

    Iteration-based loops are left alone: mmengine's ``IterBasedTrainLoop`` replays the
    dataloader from the start on resume, which already reproduces the data stream.
    Dataloader *worker* processes keep their own generators: with ``num_workers > 0`` and
    ``persistent_workers=True`` a resumed run restarts them from their seeds, and no
    checkpoint can restore them.
    """

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self._pending: Optional[dict] = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint['rng_state'] = get_rng_state()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if getattr(runner, '_resume', False) and isinstance(checkpoint.get('rng_state'), dict):
            self._pending = checkpoint['rng_state']

    def before_train_epoch(self, runner) -> None:
        from mmengine.runner import EpochBasedTrainLoop
        if self._pending is not None and isinstance(runner.train_loop, EpochBasedTrainLoop):
            set_rng_state(self._pending)
        self._pending = None
