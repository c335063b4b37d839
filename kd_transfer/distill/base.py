"""Base class and small shared helpers of the distillation losses.

Every method in :mod:`kd_transfer.distill` is a :class:`DistillLoss`: it declares which
entries of the feature dict (see the feature contract in the architectures) it reads from
the student and from the teacher, creates its learnable connectors in :meth:`setup` once the
shapes are known, and returns its *weighted* loss terms from :meth:`forward`. The plain
cross-entropy of the student is added by the distiller with its own ``ce_weight``.
"""
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _pool_matrix(n_in: int, n_out: int, like: Tensor) -> Tensor:
    """``n_out x n_in`` averaging matrix of adaptive pooling's bins ``[floor(i n/o), ceil((i+1) n/o))``."""
    rows = torch.zeros(n_out, n_in, dtype=like.dtype, device=like.device)
    for i in range(n_out):
        start, end = (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)
        rows[i, start:end] = 1.0 / (end - start)
    return rows


def adaptive_avg_pool2d(x: Tensor, size) -> Tensor:
    """``F.adaptive_avg_pool2d`` with a deterministic backward on every device.

    CUDA's adaptive average pooling backward uses atomic adds, and raises under
    ``torch.use_deterministic_algorithms(True)`` (what ``randomness.deterministic=True``
    turns on). When the bins tile the map evenly this is ``F.avg_pool2d`` (same values,
    deterministic backward); otherwise, in deterministic mode, it is the same average written
    as two matrix products with the pooling matrices.
    """
    oh, ow = (size, size) if isinstance(size, int) else tuple(size)
    h, w = x.shape[-2:]
    if h % oh == 0 and w % ow == 0:
        return x if (oh, ow) == (h, w) else F.avg_pool2d(x, (h // oh, w // ow))
    if not (torch.are_deterministic_algorithms_enabled() and x.requires_grad):
        return F.adaptive_avg_pool2d(x, (oh, ow))
    return _pool_matrix(h, oh, x) @ x @ _pool_matrix(w, ow, x).t()


def warmup_factor(epoch: int, warmup: Optional[float]) -> float:
    """Linear loss warm-up used by DKD and ReviewKD: ``min(epoch / warmup, 1)``.

    Args:
        epoch (int): 1-based epoch index.
        warmup (float, optional): number of warm-up epochs; ``0`` or ``None`` disables
            the warm-up (factor 1).

    Returns:
        float: the factor in ``[0, 1]``.
    """
    if not warmup:
        return 1.0
    if warmup < 0:
        raise ValueError(f'warmup must be >= 0 epochs, got {warmup}')
    return min(float(epoch) / float(warmup), 1.0)


def as_float(x: Tensor) -> Tensor:
    """Upcast half / bfloat16 tensors to float32; leave float32 / float64 as they are."""
    if x.dtype in (torch.float16, torch.bfloat16):
        return x.float()
    return x


def teacher_like(t: Tensor, ref: Tensor) -> Tensor:
    """Detach a teacher tensor and move it to the device / dtype of a student tensor."""
    return t.detach().to(device=ref.device, dtype=ref.dtype)


def soft_kl(student_logits: Tensor, teacher_logits: Tensor, temperature: float = 1.0) -> Tensor:
    """``KL(softmax(zt / T) || softmax(zs / T))`` summed over classes, averaged over rows.

    Computed in at least float32; the teacher is detached.

    Args:
        student_logits (Tensor): N x K student logits.
        teacher_logits (Tensor): N x K teacher logits.
        temperature (float): softmax temperature ``T``.

    Returns:
        Tensor: scalar KL divergence (without the ``T^2`` factor).
    """
    zs = as_float(student_logits)
    zt = teacher_like(teacher_logits, zs)
    log_ps = F.log_softmax(zs / temperature, dim=1)
    log_pt = F.log_softmax(zt / temperature, dim=1)
    return F.kl_div(log_ps, log_pt, reduction='batchmean', log_target=True)


def feature_shapes(shapes: dict, key: str, indices: Sequence[int], owner: str,
                   who: str) -> list:
    """Select entries of a list-valued shape entry (e.g. ``'stages'``) with a clear error.

    Args:
        shapes (dict): shape dict given to :meth:`DistillLoss.setup`.
        key (str): key holding a list of ``(C, H, W)`` tuples.
        indices (Sequence[int]): indices to pick.
        owner (str): name of the calling loss, for the error message.
        who (str): ``'student'`` or ``'teacher'``, for the error message.

    Returns:
        list[tuple]: the selected shapes.
    """
    if key not in shapes:
        raise KeyError(f'{owner}: the {who} shape dict has no {key!r} entry '
                       f'(keys: {sorted(shapes)})')
    entries = list(shapes[key])
    out = []
    for i in indices:
        if not -len(entries) <= i < len(entries):
            raise ValueError(f'{owner}: {who} {key!r} has {len(entries)} entries, '
                             f'index {i} is out of range')
        shape = tuple(entries[i])
        if len(shape) != 3:
            raise ValueError(f'{owner}: {who} {key}[{i}] must be a (C, H, W) shape, got {shape}')
        out.append(shape)
    return out


class DistillLoss(nn.Module):
    """Base class of every distillation method.

    Subclasses set :attr:`student_keys` / :attr:`teacher_keys` (entries of the feature
    dict they read; the distiller computes only these for the teacher), build their
    connectors in :meth:`setup` and implement :meth:`forward`.

    Attributes:
        student_keys (tuple[str]): feature-dict keys read from the student.
        teacher_keys (tuple[str]): feature-dict keys read from the teacher.
    """

    student_keys: Tuple[str, ...] = ('logits', )
    teacher_keys: Tuple[str, ...] = ('logits', )

    #: ``warmup_factor`` is also reachable as a static method of every loss.
    warmup_factor = staticmethod(warmup_factor)

    def setup(self, student_shapes: dict, teacher_shapes: dict) -> None:
        """Create connectors (regressors, ABF) once the shapes are known.

        The default does nothing (logit-based methods have no connector).

        Args:
            student_shapes (dict): same keys as the feature dict, tensors replaced by
                their shapes without the batch dim (lists of shapes for ``'stages'``).
            teacher_shapes (dict): the same for the teacher.
        """

    def forward(self, student: dict, teacher: dict, labels: Tensor, epoch: int,
                student_classifier: nn.Module,
                teacher_classifier: nn.Module) -> Dict[str, Tensor]:
        """Return the weighted loss terms, each key starting with ``'loss_'``.

        Args:
            student (dict): student feature dict (with gradients).
            teacher (dict): teacher feature dict, computed under ``torch.no_grad``.
            labels (Tensor): B ground-truth class indices.
            epoch (int): 1-based epoch, for warm-ups.
            student_classifier (nn.Module): the student's final linear layer.
            teacher_classifier (nn.Module): the teacher's final linear layer.

        Returns:
            dict[str, Tensor]: weighted scalar loss terms.
        """
        raise NotImplementedError(f'{type(self).__name__} must implement forward()')
