"""Attention transfer (Zagoruyko & Komodakis 2017)."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch.nn.functional as F
from torch import Tensor, nn

from .base import DistillLoss, adaptive_avg_pool2d, as_float, teacher_like
from .names import register_method


def attention_map(feat: Tensor, p: float = 2.0) -> Tensor:
    """Spatial attention ``normalize_L2(flatten(mean_c |f|^p))``.

    Args:
        feat (Tensor): B x C x H x W feature map.
        p (float): exponent. Defaults to 2.

    Returns:
        Tensor: B x (H * W) attention vectors with unit L2 norm.
    """
    # p = 2 (the papers' setting): |f|^2 = f^2, one tensor less to allocate, fill and keep for
    # the backward (the same value and gradient, 2 f)
    powered = feat.square() if p == 2 else feat.abs().pow(p)
    return F.normalize(powered.mean(dim=1).flatten(1), dim=1)


@register_method('at')
class ATLoss(DistillLoss):
    """Attention-transfer loss over several stages.

    ``loss_at = loss_weight * sum_stages mean((a(fs) - a(ft))^2)`` with ``a`` from
    :func:`attention_map`. Where the spatial sizes differ, the larger map is
    adaptive-average-pooled to the smaller size before computing its attention.
    Reads ``'stages'``; the distiller adds the cross-entropy with its own ``ce_weight``
    (1 in the common CIFAR-100 setup).

    Args:
        p (float): attention exponent. Defaults to 2.
        loss_weight (float): weight (``beta / 2`` in the paper's notation). Defaults to 1000.
        stages (Sequence[int | tuple[int, int]], optional): indices into ``'stages'``; an
            int uses the same index for student and teacher, a pair is
            ``(student_index, teacher_index)``. ``None``: every stage after the stem
            (student and teacher must then have as many stages).
    """

    student_keys = ('stages', )
    teacher_keys = ('stages', )

    def __init__(self, p: float = 2.0, loss_weight: float = 1000.0,
                 stages: Optional[Sequence[Union[int, Tuple[int, int]]]] = None) -> None:
        super().__init__()
        self.p = float(p)
        self.loss_weight = float(loss_weight)
        self.stages = None if stages is None else [
            (int(s), int(s)) if isinstance(s, int) else (int(s[0]), int(s[1])) for s in stages
        ]

    def _pairs(self, num_student: int, num_teacher: int) -> List[Tuple[int, int]]:
        if self.stages is not None:
            for s, t in self.stages:
                if not (-num_student <= s < num_student and -num_teacher <= t < num_teacher):
                    raise ValueError(f'ATLoss: stage pair ({s}, {t}) out of range for '
                                     f'{num_student} student / {num_teacher} teacher stages')
            return self.stages
        if num_student != num_teacher:
            raise ValueError(f'ATLoss: the student has {num_student} entries in "stages" and the '
                             f'teacher {num_teacher}; give `stages` as (student, teacher) pairs')
        if num_student < 2:
            raise ValueError(f'ATLoss: "stages" has {num_student} entries; at least one stage '
                             'after the stem is needed')
        return [(i, i) for i in range(1, num_student)]

    def setup(self, student_shapes: dict, teacher_shapes: dict) -> None:
        """Check the stage selection against the shapes (AT has no parameters)."""
        for who, shapes in (('student', student_shapes), ('teacher', teacher_shapes)):
            if 'stages' not in shapes:
                raise KeyError(f'ATLoss: the {who} shape dict has no "stages" entry')
        self._pairs(len(student_shapes['stages']), len(teacher_shapes['stages']))

    def forward(self, student: dict, teacher: dict, labels: Tensor, epoch: int,
                student_classifier: nn.Module,
                teacher_classifier: nn.Module) -> Dict[str, Tensor]:
        """Compute ``{'loss_at'}``; see :class:`DistillLoss` for the arguments."""
        s_stages, t_stages = student['stages'], teacher['stages']
        total = 0.0
        for si, ti in self._pairs(len(s_stages), len(t_stages)):
            fs = as_float(s_stages[si])
            ft = teacher_like(t_stages[ti], fs)
            size = (min(fs.shape[-2], ft.shape[-2]), min(fs.shape[-1], ft.shape[-1]))
            if tuple(fs.shape[-2:]) != size:
                fs = adaptive_avg_pool2d(fs, size)
            if tuple(ft.shape[-2:]) != size:
                ft = adaptive_avg_pool2d(ft, size)
            diff = attention_map(fs, self.p) - attention_map(ft, self.p)
            total = total + diff.pow(2).mean()
        return {'loss_at': self.loss_weight * total}
