import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from kd_transfer.distill import FitNetsLoss
from kd_transfer.distill.fitnets import build_regressor


# The public ConvReg (RepDistiller models/util.py = mdistiller distillers/_common.py), written
# out per size relation: (conv class, kernel, stride, padding), conv with bias, then BN + ReLU.
@pytest.mark.parametrize('s_shape,t_shape,conv_type,kernel,stride,padding', [
    ((16, 32, 32), (64, 16, 16), nn.Conv2d, 3, 2, 1),           # student 2x larger
    ((32, 8, 8), (128, 16, 16), nn.ConvTranspose2d, 4, 2, 1),   # student 2x smaller
    ((32, 16, 16), (64, 16, 16), nn.Conv2d, 1, 1, 0),           # same size: 1x1
    ((64, 8, 8), (64, 8, 8), nn.Conv2d, 1, 1, 0),               # same shape (resnet32x4->8x4)
    ((16, 10, 10), (32, 8, 8), nn.Conv2d, 3, 1, 0),             # other: valid conv
])
def test_regressor_is_the_public_convreg(s_shape, t_shape, conv_type, kernel, stride, padding):
    torch.manual_seed(0)
    reg = build_regressor(s_shape, t_shape)
    conv, bn, relu = reg
    assert type(conv) is conv_type
    assert (conv.in_channels, conv.out_channels) == (s_shape[0], t_shape[0])
    assert conv.kernel_size == (kernel, kernel)
    assert conv.stride == (stride, stride) and conv.padding == (padding, padding)
    assert conv.bias is not None  # the public conv keeps PyTorch's default bias=True
    assert type(bn) is nn.BatchNorm2d and bn.num_features == t_shape[0]
    assert type(relu) is nn.ReLU
    assert sum(p.numel() for p in reg.parameters()) == \
        s_shape[0] * t_shape[0] * kernel * kernel + t_shape[0] + 2 * t_shape[0]
    x = torch.randn(2, *s_shape)
    reg.eval()
    out = reg(x)
    assert tuple(out.shape) == (2, ) + t_shape
    # the public forward, functionally: relu(bn(conv(x)))
    op = F.conv_transpose2d if conv_type is nn.ConvTranspose2d else F.conv2d
    ref = op(x, conv.weight, conv.bias, stride=stride, padding=padding)
    ref = F.batch_norm(ref, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0., bn.eps)
    torch.testing.assert_close(out, F.relu(ref))


def test_regressor_other_sizes():
    reg = build_regressor((8, 10, 9), (4, 7, 7))
    assert tuple(reg(torch.randn(1, 8, 10, 9)).shape) == (1, 4, 7, 7)
    with pytest.raises(ValueError, match='FitNetsLoss'):
        build_regressor((8, 5, 5), (4, 7, 7))


def _shapes(stages):
    return {'stages': [tuple(s) for s in stages]}


def test_fitnets_loss_value_and_gradients():
    torch.manual_seed(0)
    s_stages = [torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8), torch.randn(2, 6, 4, 4)]
    t_stages = [torch.randn(2, 4, 8, 8), torch.randn(2, 8, 8, 8), torch.randn(2, 10, 4, 4)]
    s_stages[2].requires_grad_(True)
    for t in t_stages:
        t.requires_grad_(True)  # must still not receive a gradient
    loss = FitNetsLoss()
    with pytest.raises(RuntimeError, match='setup'):
        loss({'stages': s_stages}, {'stages': t_stages}, None, 1, None, None)
    loss.setup(_shapes(s.shape[1:] for s in s_stages), _shapes(t.shape[1:] for t in t_stages))
    out = loss({'stages': s_stages}, {'stages': t_stages}, None, 1, None, None)
    assert set(out) == {'loss_fitnets'}
    # independent value: numpy MSE of the regressed map against the teacher map
    with torch.no_grad():
        reg = loss.regressor(s_stages[2]).numpy()
    expected = 100.0 * np.mean((reg - t_stages[2].detach().numpy())**2)
    assert out['loss_fitnets'].item() == pytest.approx(float(expected), rel=1e-5)
    out['loss_fitnets'].backward()
    assert s_stages[2].grad.abs().sum() > 0
    assert all(p.grad is not None for p in loss.regressor.parameters() if p.requires_grad)
    assert all(t.grad is None for t in t_stages)


def test_fitnets_teacher_hint_layer():
    loss = FitNetsLoss(hint_layer=1, teacher_hint_layer=3, loss_weight=1.0)
    loss.setup({'stages': [(4, 8, 8), (4, 8, 8)]},
               {'stages': [(4, 8, 8), (4, 8, 8), (4, 8, 8), (7, 4, 4)]})
    out = loss({'stages': [None, torch.randn(2, 4, 8, 8)]},
               {'stages': [None, None, None, torch.randn(2, 7, 4, 4)]}, None, 1, None, None)
    assert out['loss_fitnets'].ndim == 0
    with pytest.raises(ValueError, match='out of range'):
        FitNetsLoss(hint_layer=5).setup({'stages': [(4, 8, 8)]}, {'stages': [(4, 8, 8)]})
