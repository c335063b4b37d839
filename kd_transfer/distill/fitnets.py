"""FitNets hint learning (Romero et al. 2015)."""
from typing import Dict, Optional, Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from .base import DistillLoss, as_float, feature_shapes, teacher_like
from .names import register_method


def build_regressor(student_shape: Sequence[int], teacher_shape: Sequence[int]) -> nn.Sequential:
    """The public FitNets regressor ``ConvReg`` (RepDistiller ``models/util.py``, mdistiller
    ``distillers/_common.py``): a conv (with bias) followed by BN + ReLU.

    * student 2x larger: 3x3 conv, stride 2, padding 1;
    * student 2x smaller: 4x4 transposed conv, stride 2, padding 1;
    * otherwise, if the student is at least as large: a valid conv with kernel
      ``(1 + Hs - Ht, 1 + Ws - Wt)``, which lands exactly on the teacher size; for maps of the
      same size this is a 1x1 conv (it matches the channels only).

    The public code compares the heights only (its maps are square); here both sides must
    agree, which is the same for square maps.

    Args:
        student_shape (Sequence[int]): ``(C, H, W)`` of the student map.
        teacher_shape (Sequence[int]): ``(C, H, W)`` of the teacher map.

    Returns:
        nn.Sequential: ``conv, BatchNorm2d, ReLU`` (the public ``conv``, ``bn``, ``relu``).
    """
    cs, hs, ws = student_shape
    ct, ht, wt = teacher_shape
    if (hs, ws) == (2 * ht, 2 * wt):
        conv = nn.Conv2d(cs, ct, kernel_size=3, stride=2, padding=1)
    elif (2 * hs, 2 * ws) == (ht, wt):
        conv = nn.ConvTranspose2d(cs, ct, kernel_size=4, stride=2, padding=1)
    elif hs >= ht and ws >= wt:
        conv = nn.Conv2d(cs, ct, kernel_size=(1 + hs - ht, 1 + ws - wt))
    else:
        raise ValueError(f'FitNetsLoss: no regressor from a student map of shape '
                         f'{tuple(student_shape)} to a teacher map of shape {tuple(teacher_shape)} '
                         '(the student map must be at least as large as the teacher map, or '
                         'exactly 2x smaller)')
    return nn.Sequential(conv, nn.BatchNorm2d(ct), nn.ReLU(inplace=True))


@register_method('fitnets')
class FitNetsLoss(DistillLoss):
    """FitNets hint loss: ``loss_fitnets = loss_weight * MSE(r(fs), ft)`` (mean reduction).

    ``fs`` / ``ft`` are entries of the ``'stages'`` lists (index 0 is the stem, so the
    default ``hint_layer=2`` is the middle stage of a 3-stage CIFAR ResNet). The
    regressor ``r`` is created by :meth:`setup` (see :func:`build_regressor`).
    The distiller adds the cross-entropy with its own ``ce_weight`` (1 in the common
    CIFAR-100 setup).

    Args:
        hint_layer (int): index into the student's ``'stages'``. Defaults to 2.
        loss_weight (float): hint weight. Defaults to 100.
        teacher_hint_layer (int, optional): index into the teacher's ``'stages'``;
            ``None`` uses ``hint_layer``.
    """

    student_keys = ('stages', )
    teacher_keys = ('stages', )

    def __init__(self, hint_layer: int = 2, loss_weight: float = 100.0,
                 teacher_hint_layer: Optional[int] = None) -> None:
        super().__init__()
        self.hint_layer = int(hint_layer)
        self.teacher_hint_layer = self.hint_layer if teacher_hint_layer is None else int(
            teacher_hint_layer)
        self.loss_weight = float(loss_weight)
        self.regressor: Optional[nn.Module] = None

    def setup(self, student_shapes: dict, teacher_shapes: dict) -> None:
        """Create the regressor from the hint-layer shapes."""
        s_shape, = feature_shapes(student_shapes, 'stages', [self.hint_layer], 'FitNetsLoss',
                                  'student')
        t_shape, = feature_shapes(teacher_shapes, 'stages', [self.teacher_hint_layer],
                                  'FitNetsLoss', 'teacher')
        self.regressor = build_regressor(s_shape, t_shape)

    def forward(self, student: dict, teacher: dict, labels: Tensor, epoch: int,
                student_classifier: nn.Module,
                teacher_classifier: nn.Module) -> Dict[str, Tensor]:
        """Compute ``{'loss_fitnets'}``; see :class:`DistillLoss` for the arguments."""
        if self.regressor is None:
            raise RuntimeError('FitNetsLoss: call setup(student_shapes, teacher_shapes) '
                               'before forward()')
        out = as_float(self.regressor(student['stages'][self.hint_layer]))
        target = teacher_like(teacher['stages'][self.teacher_hint_layer], out)
        if out.shape != target.shape:
            raise ValueError(f'FitNetsLoss: regressed student map {tuple(out.shape)} does not '
                             f'match the teacher map {tuple(target.shape)}; was setup() called '
                             'with the shapes of this input size?')
        return {'loss_fitnets': self.loss_weight * F.mse_loss(out, target)}
