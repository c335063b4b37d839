"""Knowledge review: ABF fusion chain + hierarchical context loss (Chen et al., CVPR 2021).

:class:`ABFChain` and :func:`hcl_loss` do not depend on the classification feature dict:
the detection hook uses them directly on FPN outputs.
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import (DistillLoss, adaptive_avg_pool2d, as_float, feature_shapes, teacher_like,
                   warmup_factor)
from .names import register_method

Shape2d = Union[int, Sequence[int]]


def _hw(shape: Shape2d) -> Tuple[int, int]:
    if isinstance(shape, int):
        return (shape, shape)
    h, w = shape[-2:]
    return (int(h), int(w))


class ABF(nn.Module):
    """Attention based fusion of one level.

    ``x = BN(conv1x1(in -> mid))(feat)``; if ``fuse``, the residual ``r`` of the deeper
    level is brought to x's size (nearest) and ``w = sigmoid(conv1x1(2 mid -> 2)([x, r]))``,
    ``x = x * w[:, 0] + r * w[:, 1]``; x is resized (nearest) to ``out_shape`` if needed,
    and ``out = BN(conv3x3(mid -> out))(x)``. Returns ``(out, x)``; x is the residual of the
    next (shallower) level.

    Implementation notes (same maths, less work): the attention conv keeps its usual
    ``2 mid -> 2`` weight but is applied as two ``mid -> 2`` halves on x and r whose
    outputs are summed, so the concatenation is never materialised; r's half is applied at
    r's own (deeper, smaller) size and its 2-channel result upsampled, since a 1 x 1 conv and
    nearest upsampling commute; both halves are per-pixel matrix products (``einsum``: on the
    CPU ~5x faster forward + backward than a 2-output convolution); a 1 x 1 residual is
    broadcast instead of interpolated (nearest upsampling of a 1 x 1 map is a broadcast);
    nothing is interpolated when the sizes already match.

    ``conv1`` / ``conv2`` use Kaiming-uniform init with ``a = 1`` as in the authors' code;
    the attention conv keeps PyTorch's default init (as there as well).

    Args:
        in_channels (int): channels of the student feature.
        mid_channels (int): channels of the fused representation.
        out_channels (int): channels of the teacher feature to match.
        fuse (bool): whether this level fuses a deeper residual.
    """

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int,
                 fuse: bool) -> None:
        super().__init__()
        self.mid_channels = mid_channels
        self.conv1 = nn.Sequential(
            nn.Conv2d(in_channels, mid_channels, kernel_size=1, bias=False),
            nn.BatchNorm2d(mid_channels))
        self.conv2 = nn.Sequential(
            nn.Conv2d(mid_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels))
        self.att_conv = nn.Conv2d(2 * mid_channels, 2, kernel_size=1) if fuse else None
        nn.init.kaiming_uniform_(self.conv1[0].weight, a=1)
        nn.init.kaiming_uniform_(self.conv2[0].weight, a=1)

    def forward(self, feat: Tensor, residual: Optional[Tensor] = None,
                out_shape: Optional[Shape2d] = None) -> Tuple[Tensor, Tensor]:
        """Fuse one level.

        Args:
            feat (Tensor): B x in x H x W student feature.
            residual (Tensor, optional): B x mid x h x w residual of the deeper level;
                required iff the module fuses.
            out_shape (int | tuple[int, int], optional): target spatial size.

        Returns:
            tuple[Tensor, Tensor]: ``(out, residual)`` -- B x out x H' x W' and the
            B x mid x H' x W' residual for the next level.
        """
        x = self.conv1(feat)
        if self.att_conv is not None:
            if residual is None:
                raise ValueError('ABF: this level fuses a deeper level, a residual is required')
            size = x.shape[-2:]
            weight, mid = self.att_conv.weight.flatten(1), self.mid_channels
            # conv1x1 over concat[x, r] == x's half of the weight applied to x + r's half
            # applied to r (+ bias); r's half at r's size, then upsampled with r
            att_r = torch.einsum('oc,bchw->bohw', weight[:, mid:], residual)
            if residual.shape[-2:] != size and tuple(residual.shape[-2:]) != (1, 1):
                residual = F.interpolate(residual, size=size, mode='nearest')
                att_r = F.interpolate(att_r, size=size, mode='nearest')
            att = torch.sigmoid(torch.einsum('oc,bchw->bohw', weight[:, :mid], x) + att_r +
                                self.att_conv.bias.view(1, -1, 1, 1))
            x = torch.addcmul(residual * att[:, 1:2], x, att[:, 0:1])
        elif residual is not None:
            raise ValueError('ABF: this level does not fuse (deepest level), got a residual')
        if out_shape is not None:
            out_hw = _hw(out_shape)
            if tuple(x.shape[-2:]) != out_hw:
                x = F.interpolate(x, size=out_hw, mode='nearest')
        return self.conv2(x), x


class ABFChain(nn.Module):
    """A chain of :class:`ABF` modules, run from the deepest level to the shallowest.

    Args:
        in_channels (Sequence[int]): student channels per level, shallow -> deep.
        out_channels (Sequence[int]): teacher channels per level, shallow -> deep.
        mid_channels (int): channels of the fused representation.
    """

    def __init__(self, in_channels: Sequence[int], out_channels: Sequence[int],
                 mid_channels: int) -> None:
        super().__init__()
        if len(in_channels) != len(out_channels) or not in_channels:
            raise ValueError(f'ABFChain: in_channels ({list(in_channels)}) and out_channels '
                             f'({list(out_channels)}) must be non-empty and of equal length')
        n = len(in_channels)
        self.abfs = nn.ModuleList(
            ABF(int(c_in), int(mid_channels), int(c_out), fuse=i < n - 1)
            for i, (c_in, c_out) in enumerate(zip(in_channels, out_channels)))

    def forward(self, feats: Sequence[Tensor], out_shapes: Sequence[Shape2d]) -> List[Tensor]:
        """Fuse all levels.

        Args:
            feats (Sequence[Tensor]): student features, shallow -> deep.
            out_shapes (Sequence[int | tuple[int, int]]): target spatial size per level,
                shallow -> deep (usually the teacher features' sizes).

        Returns:
            list[Tensor]: fused features, shallow -> deep, with the teacher's channels.
        """
        n = len(self.abfs)
        if len(feats) != n or len(out_shapes) != n:
            raise ValueError(f'ABFChain: expected {n} features and {n} out_shapes, got '
                             f'{len(feats)} and {len(out_shapes)}')
        results: List[Optional[Tensor]] = [None] * n
        residual = None
        for i in range(n - 1, -1, -1):
            results[i], residual = self.abfs[i](feats[i], residual, out_shapes[i])
        return results


def hcl_loss(student_feats: Sequence[Tensor], teacher_feats: Sequence[Tensor]) -> Tensor:
    """Hierarchical context loss, summed over levels.

    Per level: ``[MSE(fs, ft) + sum_l w_l MSE(pool_l(fs), pool_l(ft))] / (1 + sum_l w_l)``
    with adaptive average pooling to ``l x l`` for ``l`` in (4, 2, 1), only for ``l``
    smaller than the feature height, and weights 1/2, 1/4, 1/8 halving for each level
    actually used. Pooling is linear, so the difference ``fs - ft`` is pooled once per
    ``l`` (and a smaller grid is pooled from the previous one when the bins nest exactly).

    Args:
        student_feats (Sequence[Tensor]): B x C x H x W features (with gradients).
        teacher_feats (Sequence[Tensor]): same shapes (detached inside).

    Returns:
        Tensor: scalar loss.
    """
    if len(student_feats) != len(teacher_feats) or not student_feats:
        raise ValueError(f'hcl_loss: got {len(student_feats)} student and {len(teacher_feats)} '
                         'teacher features; expected the same non-zero number')
    total = None
    for i, (fs, ft) in enumerate(zip(student_feats, teacher_feats)):
        fs = as_float(fs)
        ft = teacher_like(ft, fs)
        if fs.shape != ft.shape:
            raise ValueError(f'hcl_loss: level {i} student shape {tuple(fs.shape)} != teacher '
                             f'shape {tuple(ft.shape)}')
        diff = fs - ft
        h, w = diff.shape[-2:]
        loss = diff.pow(2).mean()
        weight, denom = 1.0, 1.0
        source, source_size = diff, None
        for size in (4, 2, 1):
            if size >= h:
                continue
            if source_size is not None and h % source_size == 0 and w % source_size == 0:
                pooled = adaptive_avg_pool2d(source, size)  # exact: the bins nest
            else:
                pooled = adaptive_avg_pool2d(diff, size)
            source, source_size = pooled, size
            weight /= 2.0
            loss = loss + weight * pooled.pow(2).mean()
            denom += weight
        loss = loss / denom
        total = loss if total is None else total + loss
    return total


@register_method('reviewkd')
class ReviewKDLoss(DistillLoss):
    """ReviewKD on classification: ``loss_reviewkd = w * min(epoch / warmup, 1) * HCL``.

    Student features: ``stages[1:]`` (or ``preact_stages[1:]``) plus ``pooled`` as a
    1 x 1 map; teacher features: ``preact_stages[1:]`` plus ``pooled``; all shallow -> deep.
    The student features go through an :class:`ABFChain` built by :meth:`setup` and are
    compared with the teacher features by :func:`hcl_loss`. The distiller adds the
    cross-entropy with ``ce_weight = 1``.

    Args:
        mid_channels (int, optional): ABF width; ``None``: ``min(512, C)`` with ``C`` the
            channels of the student's deepest level, the pooled vector (the official CIFAR
            code's and mdistiller's ``min(512, in_channels[-1])``; it differs from the last
            stage's channels where a conv follows the last stage, e.g. ShuffleNetV2's 1024).
        loss_weight (float): ``w``. Defaults to 5.
        warmup (float): warm-up epochs (0 / None: none). Defaults to 20.
        student_preact (bool): read the student's ``preact_stages`` instead of ``stages``.
        student_stages (Sequence[int], optional): indices into the student stage list;
            ``None``: every stage after the stem.
        teacher_stages (Sequence[int], optional): the same for the teacher.
    """

    def __init__(self, mid_channels: Optional[int] = None, loss_weight: float = 5.0,
                 warmup: float = 20, student_preact: bool = False,
                 student_stages: Optional[Sequence[int]] = None,
                 teacher_stages: Optional[Sequence[int]] = None) -> None:
        super().__init__()
        self.mid_channels = mid_channels
        self.loss_weight = float(loss_weight)
        self.warmup = warmup
        self.student_key = 'preact_stages' if student_preact else 'stages'
        self.student_keys = (self.student_key, 'pooled')
        self.teacher_keys = ('preact_stages', 'pooled')
        self.student_stages = None if student_stages is None else [int(i) for i in student_stages]
        self.teacher_stages = None if teacher_stages is None else [int(i) for i in teacher_stages]
        self.abf_chain: Optional[ABFChain] = None

    @staticmethod
    def _level_shapes(shapes: dict, key: str, indices: Optional[List[int]],
                      who: str) -> Tuple[List[int], List[tuple]]:
        if key not in shapes or 'pooled' not in shapes:
            raise KeyError(f'ReviewKDLoss: the {who} shape dict needs {key!r} and "pooled" '
                           f'(keys: {sorted(shapes)})')
        if indices is None:
            indices = list(range(1, len(shapes[key])))
        levels = feature_shapes(shapes, key, indices, 'ReviewKDLoss', who)
        pooled = tuple(shapes['pooled'])
        if len(pooled) != 1:
            raise ValueError(f'ReviewKDLoss: {who} "pooled" must be a (C,) shape, got {pooled}')
        return indices, levels + [(pooled[0], 1, 1)]

    def setup(self, student_shapes: dict, teacher_shapes: dict) -> None:
        """Build the ABF chain from the student / teacher level shapes."""
        self.student_stages, s_levels = self._level_shapes(student_shapes, self.student_key,
                                                           self.student_stages, 'student')
        self.teacher_stages, t_levels = self._level_shapes(teacher_shapes, 'preact_stages',
                                                           self.teacher_stages, 'teacher')
        if len(s_levels) != len(t_levels):
            raise ValueError(f'ReviewKDLoss: {len(s_levels)} student levels ({s_levels}) vs '
                             f'{len(t_levels)} teacher levels ({t_levels}); select matching '
                             'stages with student_stages / teacher_stages')
        mid = self.mid_channels or min(512, s_levels[-1][0])
        self.abf_chain = ABFChain([s[0] for s in s_levels], [t[0] for t in t_levels], mid)

    def forward(self, student: dict, teacher: dict, labels: Tensor, epoch: int,
                student_classifier: nn.Module,
                teacher_classifier: nn.Module) -> Dict[str, Tensor]:
        """Compute ``{'loss_reviewkd'}``; see :class:`DistillLoss` for the arguments."""
        if self.abf_chain is None:
            raise RuntimeError('ReviewKDLoss: call setup(student_shapes, teacher_shapes) '
                               'before forward()')
        s_feats = [student[self.student_key][i] for i in self.student_stages]
        s_feats.append(student['pooled'][:, :, None, None])
        t_feats = [teacher['preact_stages'][i] for i in self.teacher_stages]
        t_feats.append(teacher['pooled'][:, :, None, None])
        fused = self.abf_chain(s_feats, [t.shape[-2:] for t in t_feats])
        w = self.loss_weight * warmup_factor(epoch, self.warmup)
        return {'loss_reviewkd': w * hcl_loss(fused, t_feats)}
