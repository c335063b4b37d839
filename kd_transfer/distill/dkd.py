"""Decoupled knowledge distillation (Zhao et al., CVPR 2022)."""
from typing import Dict

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import DistillLoss, as_float, teacher_like, warmup_factor
from .names import register_method


def _binary_log_probs(logits: Tensor, labels: Tensor, target_mask: Tensor) -> Tensor:
    """Log of ``[p_target, sum of the other p]`` per row, computed in log space (N x 2)."""
    log_p = F.log_softmax(logits, dim=1)
    log_target = log_p.gather(1, labels)
    log_other = torch.logsumexp(log_p.masked_fill(target_mask, float('-inf')), dim=1, keepdim=True)
    return torch.cat([log_target, log_other], dim=1)


def _non_target_logits(logits: Tensor, labels: Tensor) -> Tensor:
    """The N x (K - 1) logits with the target column removed (exact masking).

    A gather with indices ``j + (j >= label)``: static shapes, no device-to-host
    synchronisation (``masked_select`` must count the mask on the host first).
    """
    n, k = logits.shape
    cols = torch.arange(k - 1, device=logits.device).expand(n, k - 1)
    return logits.gather(1, cols + (cols >= labels).long())


def dkd_terms(student_logits: Tensor, teacher_logits: Tensor, labels: Tensor,
              temperature: float) -> Dict[str, Tensor]:
    """Unweighted TCKD and NCKD terms, both already multiplied by ``T^2``.

    * TCKD: ``KL(b_t || b_s)`` with ``b = [p_target, 1 - p_target]`` at temperature T;
    * NCKD: ``KL`` between the softmaxes over the non-target classes only (the target
      column is removed, which is the exact limit of the paper's "subtract 1000" mask).

    Both are summed over their classes and averaged over the batch.

    Args:
        student_logits (Tensor): B x K.
        teacher_logits (Tensor): B x K (detached inside).
        labels (Tensor): B class indices.
        temperature (float): temperature T.

    Returns:
        dict[str, Tensor]: ``{'tckd': ..., 'nckd': ...}``.
    """
    zs = as_float(student_logits)
    zt = teacher_like(teacher_logits, zs)
    if labels.dim() != 1 or labels.shape[0] != zs.shape[0]:
        raise ValueError(f'DKDLoss: labels must be {zs.shape[0]} class indices, got shape '
                         f'{tuple(labels.shape)}')
    if zs.shape[1] < 2:
        raise ValueError('DKDLoss needs at least 2 classes')
    # a scatter, not F.one_hot: one_hot validates the labels on the host (a device sync)
    labels = labels.to(zs.device).long().reshape(-1, 1)
    mask = torch.zeros_like(zs, dtype=torch.bool).scatter_(1, labels, True)
    t = temperature
    tckd = F.kl_div(_binary_log_probs(zs / t, labels, mask),
                    _binary_log_probs(zt / t, labels, mask),
                    reduction='batchmean', log_target=True)
    nckd = F.kl_div(F.log_softmax(_non_target_logits(zs, labels) / t, dim=1),
                    F.log_softmax(_non_target_logits(zt, labels) / t, dim=1),
                    reduction='batchmean', log_target=True)
    return {'tckd': tckd * t * t, 'nckd': nckd * t * t}


@register_method('dkd')
class DKDLoss(DistillLoss):
    """DKD: ``min(epoch / warmup, 1) * (alpha * TCKD + beta * NCKD)``.

    The two parts are returned as separate, fully weighted terms
    ``{'loss_tckd', 'loss_nckd'}`` (their sum is the DKD loss), so that both show up in
    the logs. The distiller adds the cross-entropy with ``ce_weight = 1``.

    Args:
        alpha (float): TCKD weight. Defaults to 1.
        beta (float): NCKD weight. Defaults to 8 (2 for resnet56/110 teachers).
        temperature (float): temperature T. Defaults to 4.
        warmup (float): warm-up epochs (0 / None: none). Defaults to 20.
    """

    student_keys = ('logits', )
    teacher_keys = ('logits', )

    def __init__(self, alpha: float = 1.0, beta: float = 8.0, temperature: float = 4.0,
                 warmup: float = 20) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f'DKDLoss: temperature must be > 0, got {temperature}')
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.temperature = float(temperature)
        self.warmup = warmup

    def forward(self, student: dict, teacher: dict, labels: Tensor, epoch: int,
                student_classifier: nn.Module,
                teacher_classifier: nn.Module) -> Dict[str, Tensor]:
        """Compute ``{'loss_tckd', 'loss_nckd'}``; see :class:`DistillLoss` for the arguments."""
        terms = dkd_terms(student['logits'], teacher['logits'], labels, self.temperature)
        w = warmup_factor(epoch, self.warmup)
        return {
            'loss_tckd': w * self.alpha * terms['tckd'],
            'loss_nckd': w * self.beta * terms['nckd'],
        }
