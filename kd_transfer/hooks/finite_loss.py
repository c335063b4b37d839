""":class:`FiniteLossHook` (root ``HOOKS``) stops training at the first NaN / Inf loss term,
naming the iteration and the term, before any checkpoint of that iteration is written; it
also refuses to write a checkpoint whose weights are not finite. Classification configs get
it from ``configs/_base_/cls/runtime.py``; mmdet / mmseg configs add
``custom_hooks = [dict(type='FiniteLossHook')]`` (the root registry is visible from their
scopes).
"""
import math
import os.path as osp
from typing import Any, List, Optional

import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS



class NonFiniteLossError(FloatingPointError):
    """A loss term (or a weight about to be checkpointed) is NaN or Inf."""


def _last_checkpoint(work_dir: str) -> str:
    pointer = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer, encoding='utf-8') as f:
            last = f.read().strip()
        if last:
            return f'the last good checkpoint is {last}'
    return 'no checkpoint had been written yet'


def nonfinite_tensors(tensors: Any) -> List[str]:
    """Names of the floating-point tensors holding NaN / Inf in a state dict (or a
    ``{name: tensor}`` / list of tensors: list indices are the names)."""
    items = tensors.items() if isinstance(tensors, dict) else enumerate(tensors or [])
    return [str(k) for k, v in items if isinstance(v, torch.Tensor) and v.is_floating_point()
            and not bool(torch.isfinite(v).all())]


def teacher_fault(flag: Optional[torch.Tensor], teacher: Optional[torch.nn.Module],
                  checkpoint: Any, what: str) -> Optional[str]:
    """Why a teacher is at fault for a non-finite loss (``flag``: :func:`all_finite` of its
    last outputs; ``what`` says which outputs), or None when they were finite or unknown."""
    if flag is None or bool(flag) or teacher is None:
        return None
    weights = nonfinite_tensors(teacher.state_dict())
    return (f'{what}: check the teacher checkpoint {checkpoint!r} ' +
            (f'(NaN/Inf weights in {weights[:3]})' if weights else
             '(its weights are finite: look for negative BatchNorm running_var or '
             'overflowing activations)'))


def all_finite(tensors: Any) -> Optional[torch.Tensor]:
    """A 0-dim bool tensor: every value of the (nested dict / list of) tensors is finite.

    Kept as a tensor (no host synchronisation); :class:`FiniteLossHook` reads it only after a
    non-finite loss. None when there is no tensor.

    Computed every step, so it costs one read of each tensor: a NaN or an Inf anywhere makes
    the tensor's sum (accumulated in float32, also for half-precision tensors) NaN or Inf,
    where ``isfinite(t).all()`` would write and read a mask as large as ``t`` (with the
    teacher's stage maps of AT, ~6 ms of a 250 ms CIFAR step; tools/benchmarks/peer_speed.py).
    Only finite values summing beyond float32's range (3.4e38) would read as non-finite.
    """
    flat: List[torch.Tensor] = []

    def walk(node: Any) -> None:
        if isinstance(node, torch.Tensor):
            if node.is_floating_point():
                flat.append(node.detach().sum(dtype=torch.float32))
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                walk(value)

    walk(tensors)
    return torch.isfinite(torch.stack(flat)).all() if flat else None


def teacher_diagnosis(runner) -> Optional[str]:
    """What the teachers of a run say about a non-finite loss (None when they are fine).

    Asks the model (:class:`~kd_transfer.models.Distiller`) and every hook
    (:class:`~kd_transfer.hooks.ReviewKDHook`) that has a ``nonfinite_teacher()`` method.
    """
    model = getattr(runner, 'model', None)
    model = getattr(model, 'module', model)
    for owner in [model, *(getattr(runner, 'hooks', None) or [])]:
        ask = getattr(owner, 'nonfinite_teacher', None)
        if callable(ask):
            said = ask()
            if said:
                return said
    return None


@HOOKS.register_module()
class FiniteLossHook(Hook):
    """Stop training at the first non-finite loss term; never checkpoint non-finite weights.

    After every training iteration the logged loss terms (the entries of ``train_step``'s
    ``outputs`` whose name contains ``'loss'``, as mmengine's ``parse_losses`` sums) are
    recorded with a device-side finiteness flag: no host synchronisation per step on a GPU.
    The flags are read (one synchronisation; all-reduced in distributed runs so every rank
    stops at the same iteration) every ``check_interval`` iterations, before every checkpoint
    is written, before validation and at the end of each epoch and of training. The error
    names the *first* non-finite iteration of the window. The hook runs before mmengine's
    ``CheckpointHook`` (priority ``VERY_HIGH``) and checks again in ``before_save_checkpoint``,
    so no checkpoint of a failing iteration is written and ``last_checkpoint`` keeps pointing
    at the last good one; ``before_save_checkpoint`` also refuses a state dict holding NaN /
    Inf (e.g. a finite loss whose gradient overflowed).

    Args:
        check_interval (int, optional): iterations between two reads of the flags. ``None``
            (default): every iteration when the losses are on the CPU (reading them costs no
            synchronisation there), every 50 on an accelerator.

    Raises:
        NonFiniteLossError: Names the 1-based iteration (the number of the checkpoint it would
            have written: ``iter_<n>.pth``), the epoch, the offending terms and the last good
            checkpoint.
    """

    priority = 'VERY_HIGH'

    def __init__(self, check_interval: Optional[int] = None) -> None:
        if check_interval is not None and int(check_interval) < 1:
            raise ValueError(f'FiniteLossHook: check_interval must be >= 1, got {check_interval}')
        self.check_interval = None if check_interval is None else int(check_interval)
        # one entry per unchecked iteration: (iter + 1, epoch + 1, batch_idx, names, values)
        self._pending: List[tuple] = []

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        names, values, device = [], [], None
        for key, value in (outputs or {}).items():
            if 'loss' not in key:  # what mmengine sums into the loss; not e.g. mmseg's acc_seg,
                continue           # which is NaN for a crop whose pixels are all ignored
            if isinstance(value, torch.Tensor) and value.numel() == 1:
                names.append(key)
                values.append(value.detach().reshape(()).float())
                device = value.device
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                names.append(key)
                values.append(float(value))
        if device is not None:
            values = torch.stack([v.to(device) if isinstance(v, torch.Tensor)
                                  else torch.tensor(v, device=device) for v in values])
        else:
            values = torch.tensor(values, dtype=torch.float32)
        self._pending.append((runner.iter + 1, runner.epoch + 1, batch_idx, names, values))
        interval = self.check_interval or (1 if values.device.type == 'cpu' else 50)
        if len(self._pending) >= interval:
            self._check(runner)

    def _check(self, runner) -> None:
        """Read the pending flags (one synchronisation) and raise at the first bad iteration."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        device = pending[-1][4].device
        ok = torch.stack([torch.isfinite(p[4]).all() for p in pending])
        if torch.distributed.is_available() and torch.distributed.is_initialized() \
                and torch.distributed.get_world_size() > 1:
            if device.type == 'cpu' and torch.cuda.is_available() \
                    and torch.distributed.get_backend() == 'nccl':
                device = torch.device('cuda', torch.cuda.current_device())
            flag = (~ok.all()).float().reshape(1).to(device)
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            anywhere = flag.to(ok.device)
        else:
            anywhere = (~ok.all()).float().reshape(1)
        read = torch.cat([ok.float(), anywhere]).tolist()  # the one synchronisation
        if not read[-1]:
            return
        first = next((i for i, good in enumerate(read[:-1]) if not good), len(pending) - 1)
        it, epoch, batch_idx, names, values = pending[first]
        terms = dict(zip(names, values.tolist()))
        bad = {k: v for k, v in terms.items() if not math.isfinite(v)}
        named = {k: v for k, v in bad.items() if k != 'loss'} or bad
        where = (', '.join(f'{k}={v}' for k, v in named.items()) if bad
                 else 'on another rank (this rank: ' +
                 ', '.join(f'{k}={v:.4g}' for k, v in terms.items()) + ')')
        teacher = teacher_diagnosis(runner)
        last = _last_checkpoint(runner.work_dir)
        restart = ('start again' if last.startswith('no checkpoint') else
                   'resume from that checkpoint')
        advice = (f'{teacher[:1].upper()}{teacher[1:]}. Lowering the learning rate will not '
                  'help: fix the teacher, then '
                  'start again' if teacher else 'Lower the learning rate or the loss weights, '
                  f'or {restart}')
        raise NonFiniteLossError(
            f'non-finite loss at iteration {it} (epoch {epoch}, batch '
            f'{batch_idx}): {where}. Training stopped before this iteration was checkpointed; '
            f'{last}. {advice}.')

    def after_train_epoch(self, runner) -> None:
        self._check(runner)

    def before_val_epoch(self, runner) -> None:
        self._check(runner)

    def after_train(self, runner) -> None:
        self._check(runner)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        self._check(runner)
        for name, value in (checkpoint.get('state_dict') or {}).items():
            if isinstance(value, torch.Tensor) and value.is_floating_point() \
                    and not bool(torch.isfinite(value).all()):
                raise NonFiniteLossError(
                    f'refusing to save a checkpoint at iteration {runner.iter} (epoch '
                    f'{runner.epoch}): weight {name!r} holds NaN/Inf; '
                    f'{_last_checkpoint(runner.work_dir)}')
