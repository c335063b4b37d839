import numpy as np
import pytest
import torch
from torch import nn

from kd_transfer.distill import FitNetsLoss
from kd_transfer.distill.fitnets import build_regressor


@pytest.mark.parametrize('s_shape,t_shape,conv_type,stride', [
    ((16, 32, 32), (64, 16, 16), nn.Conv2d, 2),           # student 2x larger
    ((32, 8, 8), (128, 16, 16), nn.ConvTranspose2d, 2),   # student 2x smaller
    ((32, 16, 16), (64, 16, 16), nn.Conv2d, 1),           # same size
])
def test_regressor_cases(s_shape, t_shape, conv_type, stride):
    reg = build_regressor(s_shape, t_shape)
    conv, bn, relu = reg
    assert type(conv) is conv_type and conv.stride == (stride, stride)
    if conv_type is nn.ConvTranspose2d:
        assert conv.kernel_size == (4, 4)
    else:
        assert conv.kernel_size == (3, 3)
    assert isinstance(bn, nn.BatchNorm2d) and isinstance(relu, nn.ReLU)
    out = reg(torch.randn(2, *s_shape))
    assert tuple(out.shape) == (2, ) + t_shape


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
