"""Hinton knowledge distillation (Hinton, Vinyals, Dean 2015)."""
from typing import Dict

from torch import Tensor, nn

from .base import DistillLoss, soft_kl
from .names import register_method


@register_method('kd')
class KDLoss(DistillLoss):
    """Soft-target KD: ``loss_kd = loss_weight * T^2 * KL(softmax(zt/T) || softmax(zs/T))``.

    The KL is summed over classes and averaged over the batch. The distiller adds the
    cross-entropy with its own ``ce_weight`` (CIFAR-100: 0.1 with ``loss_weight=0.9``,
    ``T=4``; ImageNet: 0.5 / 0.5, ``T=1``).

    Args:
        temperature (float): softmax temperature ``T``. Defaults to 4.
        loss_weight (float): weight ``a_kd``. Defaults to 0.9.
    """

    student_keys = ('logits', )
    teacher_keys = ('logits', )

    def __init__(self, temperature: float = 4.0, loss_weight: float = 0.9) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f'KDLoss: temperature must be > 0, got {temperature}')
        self.temperature = float(temperature)
        self.loss_weight = float(loss_weight)

    def forward(self, student: dict, teacher: dict, labels: Tensor, epoch: int,
                student_classifier: nn.Module,
                teacher_classifier: nn.Module) -> Dict[str, Tensor]:
        """Compute ``{'loss_kd'}``; see :class:`DistillLoss` for the arguments."""
        t = self.temperature
        kl = soft_kl(student['logits'], teacher['logits'], t)
        return {'loss_kd': self.loss_weight * t * t * kl}
