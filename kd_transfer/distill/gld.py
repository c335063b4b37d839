"""Global and local logits with densely connected relations (Kim et al., ICCV 2021)."""
from typing import Dict

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import DistillLoss, adaptive_avg_pool2d, as_float, soft_kl, teacher_like
from .names import register_method


def lnd(logits: Tensor, eps: float = 1e-12) -> Tensor:
    """Logit normalisation ``z / std(z)`` per row (unbiased std over classes, no centring)."""
    return logits / logits.std(dim=1, keepdim=True).clamp_min(eps)


def squared_distances(rows: Tensor) -> Tensor:
    """N x N squared Euclidean distances between rows (exact zeros on the diagonal).

    Always computed in float32 or wider, outside autocast: under AMP the Gram matrix
    ``rows @ rows.t()`` would run in fp16 and overflow (max 65504) for rows of norm above
    ~181 -- e.g. 1000-class logits with std 6 -- and the clamp below would silently turn
    the overflow into zero distances.
    """
    with torch.autocast(device_type=rows.device.type, enabled=False):
        rows = as_float(rows)
        sq = rows.pow(2).sum(dim=1)
        d = (sq.unsqueeze(1) + sq.unsqueeze(0) - 2.0 * rows @ rows.t()).clamp_min(0.0)
        eye = torch.eye(rows.shape[0], dtype=torch.bool, device=rows.device)
        return d.masked_fill(eye, 0.0)


def relation_loss(student_rows: Tensor, teacher_rows: Tensor) -> Tensor:
    """Densely connected relation loss ``sum((Dt - Ds)^2) / N^2``.

    ``D`` are the squared-distance matrices of the rows, each row L2-normalised.

    Args:
        student_rows (Tensor): N x K student logits (global and local rows).
        teacher_rows (Tensor): N x K teacher logits in the same order.

    Returns:
        Tensor: scalar loss.
    """
    ds = F.normalize(squared_distances(student_rows), dim=1)
    dt = F.normalize(squared_distances(teacher_rows), dim=1)
    n = student_rows.shape[0]
    return (dt - ds).pow(2).sum() / (n * n)


def _apply_classifier(classifier: nn.Module, vectors: Tensor) -> Tensor:
    param = next(classifier.parameters(), None)
    if param is not None:
        vectors = vectors.to(device=param.device, dtype=param.dtype)
    return classifier(vectors)


@register_method('gld')
class GLDLoss(DistillLoss):
    """GLD: global + local logit distillation with LND and dense relations.

    The feature map before global pooling (``'feat_map'``, s x s) is average-pooled into
    a ``div x div`` grid; every cell goes through the network's own classifier (the
    student's for the student, the teacher's -- under ``torch.no_grad`` -- for the
    teacher), giving ``B * div^2`` local logits. Global logits are ``'logits'``. With
    ``n(z) = z / std(z)`` (LND) the method's total is::

        (1 - alpha) CE(gs, y) + alpha L_glob + div^2 L_loc + beta L_rel

    ``L_glob = KL(softmax(n(gt)) || softmax(n(gs)))``, ``L_loc`` the same over all local
    rows (both batch-mean), ``L_rel`` the relation loss over the ``B * (1 + div^2)`` stacked
    raw global and local logits (:func:`relation_loss`). This module returns
    ``loss_gld_global = loss_weight * alpha * L_glob``,
    ``loss_gld_local = loss_weight * div^2 * L_loc`` and
    ``loss_gld_relation = loss_weight * beta * L_rel``; the distiller's ``ce_weight`` must be
    ``1 - alpha`` (0.3 by default) to obtain the total above.

    Args:
        alpha (float): global KD weight (and 1 - CE weight). Defaults to 0.7.
        beta (float): relation weight. Defaults to 500.
        div (int): local grid size. Defaults to 2.
        pool (str): ``'adaptive'`` (adaptive average pooling, covers the whole map) or
            ``'fixed'`` (kernel = stride = s // div, as the public code: on a 7 x 7 map it
            drops the last row and column). Defaults to ``'adaptive'``.
        loss_weight (float): extra factor on the three terms. Defaults to 1.
    """

    student_keys = ('feat_map', 'logits')
    teacher_keys = ('feat_map', 'logits')

    def __init__(self, alpha: float = 0.7, beta: float = 500.0, div: int = 2,
                 pool: str = 'adaptive', loss_weight: float = 1.0) -> None:
        super().__init__()
        if pool not in ('adaptive', 'fixed'):
            raise ValueError(f"GLDLoss: pool must be 'adaptive' or 'fixed', got {pool!r}")
        if int(div) < 1:
            raise ValueError(f'GLDLoss: div must be >= 1, got {div}')
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.div = int(div)
        self.pool = pool
        self.loss_weight = float(loss_weight)

    def local_vectors(self, feat_map: Tensor) -> Tensor:
        """Pool a B x C x s x s map into ``B * div^2`` x C cell vectors (sample-major)."""
        b, c, h, w = feat_map.shape
        if h < self.div or w < self.div:
            raise ValueError(f'GLDLoss: feat_map of size {h}x{w} is smaller than div={self.div}')
        if self.pool == 'adaptive':
            cells = adaptive_avg_pool2d(feat_map, self.div)
        else:
            cells = F.avg_pool2d(feat_map, (h // self.div, w // self.div))
        return cells.flatten(2).transpose(1, 2).reshape(-1, c)

    def setup(self, student_shapes: dict, teacher_shapes: dict) -> None:
        """Check that both feature maps are large enough for the grid (no parameters)."""
        for who, shapes in (('student', student_shapes), ('teacher', teacher_shapes)):
            shape = tuple(shapes.get('feat_map', ()))
            if len(shape) != 3 or min(shape[1:]) < self.div:
                raise ValueError(f'GLDLoss: the {who} "feat_map" must be a (C, H, W) shape with '
                                 f'H, W >= div={self.div}, got {shape}')

    def forward(self, student: dict, teacher: dict, labels: Tensor, epoch: int,
                student_classifier: nn.Module,
                teacher_classifier: nn.Module) -> Dict[str, Tensor]:
        """Compute the three GLD terms; see :class:`DistillLoss` for the arguments."""
        gs = as_float(student['logits'])
        ls = as_float(_apply_classifier(student_classifier,
                                        self.local_vectors(student['feat_map'])))
        with torch.no_grad():
            gt = teacher_like(teacher['logits'], gs)
            lt = teacher_like(
                _apply_classifier(teacher_classifier,
                                  self.local_vectors(teacher['feat_map'].detach())), gs)
        l_glob = soft_kl(lnd(gs), lnd(gt))
        l_loc = soft_kl(lnd(ls), lnd(lt))
        l_rel = relation_loss(torch.cat([gs, ls]), torch.cat([gt, lt]))
        w = self.loss_weight
        return {
            'loss_gld_global': w * self.alpha * l_glob,
            'loss_gld_local': w * self.div**2 * l_loc,
            'loss_gld_relation': w * self.beta * l_rel,
        }
