"""KD with a focal-loss term for calibration (Kang, Lee, Lee; focal loss: Mukhoti et al. 2020)."""
from typing import Dict, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import DistillLoss, as_float, soft_kl
from .names import register_method


def focal_loss(logits: Tensor, labels: Tensor, gamma: Union[float, str] = 3.0) -> Tensor:
    """Multi-class focal loss ``mean(-(1 - p_y)^g * log p_y)``.

    Args:
        logits (Tensor): B x K logits.
        labels (Tensor): B class indices.
        gamma (float | str): fixed ``g``, or ``'flsd53'``: ``g = 5`` for samples with
            ``p_y < 0.2`` and ``g = 3`` otherwise (the choice itself carries no gradient).

    Returns:
        Tensor: scalar loss (mean over the batch).
    """
    log_p = F.log_softmax(as_float(logits), dim=1)
    log_py = log_p.gather(1, labels.to(log_p.device).long().view(-1, 1)).squeeze(1)
    p_y = log_py.exp()
    if gamma == 'flsd53':
        g = torch.where(p_y.detach() < 0.2, 5.0, 3.0).to(p_y.dtype)
    elif isinstance(gamma, str):
        raise ValueError(f"focal_loss: gamma must be a number or 'flsd53', got {gamma!r}")
    else:
        g = float(gamma)
    return (-(1.0 - p_y).pow(g) * log_py).mean()


@register_method('focal_kd')
class FocalCalibKDLoss(DistillLoss):
    """``alpha T^2 KL(softmax(zt/T) || softmax(zs/T)) + beta CE(zs, y) + gamma FL(zs, y)``.

    This method carries its own cross-entropy term: it returns
    ``{'loss_kd', 'loss_ce_fc', 'loss_focal'}`` (alpha T^2 KL, beta CE, gamma FL), so the
    distiller's ``ce_weight`` must be **0** for it. ``alpha = beta = 0.5, gamma = 0`` is
    plain KD. The focal loss is averaged over the batch.

    Args:
        alpha (float): KD weight. Defaults to 0.5.
        beta (float): cross-entropy weight. Defaults to 0.5.
        gamma (float): focal-loss weight. Defaults to 0.
        temperature (float): KD temperature. Defaults to 4.
        focal_gamma (float | str): focusing parameter ``g`` or ``'flsd53'``. Defaults to 3.
    """

    student_keys = ('logits', )
    teacher_keys = ('logits', )

    def __init__(self, alpha: float = 0.5, beta: float = 0.5, gamma: float = 0.0,
                 temperature: float = 4.0, focal_gamma: Union[float, str] = 3.0) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f'FocalCalibKDLoss: temperature must be > 0, got {temperature}')
        if isinstance(focal_gamma, str) and focal_gamma != 'flsd53':
            raise ValueError(f"FocalCalibKDLoss: focal_gamma must be a number or 'flsd53', "
                             f'got {focal_gamma!r}')
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.gamma = float(gamma)
        self.temperature = float(temperature)
        self.focal_gamma = focal_gamma if isinstance(focal_gamma, str) else float(focal_gamma)

    def forward(self, student: dict, teacher: dict, labels: Tensor, epoch: int,
                student_classifier: nn.Module,
                teacher_classifier: nn.Module) -> Dict[str, Tensor]:
        """Compute the three terms; see :class:`DistillLoss` for the arguments."""
        zs = as_float(student['logits'])
        labels = labels.to(zs.device).long()
        t = self.temperature
        return {
            'loss_kd': self.alpha * t * t * soft_kl(zs, teacher['logits'], t),
            'loss_ce_fc': self.beta * F.cross_entropy(zs, labels),
            'loss_focal': self.gamma * focal_loss(zs, labels, self.focal_gamma),
        }
