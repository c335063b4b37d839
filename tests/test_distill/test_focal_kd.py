import math

import pytest
import torch

from kd_transfer.distill import FocalCalibKDLoss
from kd_transfer.distill.focal_kd import focal_loss


def _softmax(row):
    e = [math.exp(v) for v in row]
    return [v / sum(e) for v in e]


def test_focal_kd_hand_values():
    zs = [[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]]
    zt = [[2.0, 0.0, 1.0], [1.0, 1.0, 1.0]]
    y = [1, 0]
    t = 2.0
    kl = 0.0
    ce = 0.0
    fl = 0.0
    for s_row, t_row, label in zip(zs, zt, y):
        ps = _softmax([v / t for v in s_row])
        pt = _softmax([v / t for v in t_row])
        kl += sum(q * math.log(q / p) for p, q in zip(ps, pt)) / 2
        p_y = _softmax(s_row)[label]
        ce += -math.log(p_y) / 2
        fl += -(1 - p_y)**3 * math.log(p_y) / 2
    loss = FocalCalibKDLoss(alpha=0.1, beta=0.9, gamma=0.01, temperature=t, focal_gamma=3.0)
    out = loss({'logits': torch.tensor(zs)}, {'logits': torch.tensor(zt)}, torch.tensor(y), 1,
               None, None)
    assert set(out) == {'loss_kd', 'loss_ce_fc', 'loss_focal'}
    assert out['loss_kd'].item() == pytest.approx(0.1 * t * t * kl, rel=1e-5)
    assert out['loss_ce_fc'].item() == pytest.approx(0.9 * ce, rel=1e-5)
    assert out['loss_focal'].item() == pytest.approx(0.01 * fl, rel=1e-5)


def _logits_with_target_prob(p, k=3):
    """Logits whose softmax gives p on class 0 and (1 - p) / (k - 1) on the others."""
    q = (1 - p) / (k - 1)
    return torch.tensor([[math.log(p)] + [math.log(q)] * (k - 1)], dtype=torch.float64)


# switch at p_y = 0.2: g = 5 below, 3 from 0.2 on (p_y = 0.2 itself is not representable
# exactly, so the boundary is probed 1e-9 either side)
@pytest.mark.parametrize('p,g', [(0.2 - 1e-9, 5), (0.2 + 1e-9, 3), (0.05, 5), (0.5, 3), (0.9, 3)])
def test_flsd53_gamma_switch(p, g):
    logits = _logits_with_target_prob(p)
    value = focal_loss(logits, torch.tensor([0]), 'flsd53').item()
    assert value == pytest.approx(-(1 - p)**g * math.log(p), rel=1e-9)


def test_focal_gamma_zero_is_ce_and_plain_kd_default():
    zs, zt = torch.randn(4, 7), torch.randn(4, 7)
    y = torch.tensor([0, 1, 2, 3])
    assert focal_loss(zs, y, 0.0).item() == pytest.approx(
        torch.nn.functional.cross_entropy(zs, y).item(), rel=1e-6)
    out = FocalCalibKDLoss()({'logits': zs}, {'logits': zt}, y, 1, None, None)
    assert out['loss_focal'].item() == 0.0
    with pytest.raises(ValueError, match='focal_gamma'):
        FocalCalibKDLoss(focal_gamma='flsd')


def test_focal_kd_gradients():
    zs = torch.randn(3, 5, requires_grad=True)
    zt = torch.randn(3, 5, requires_grad=True)
    out = FocalCalibKDLoss(gamma=1.0, focal_gamma='flsd53')({'logits': zs}, {'logits': zt},
                                                            torch.tensor([0, 1, 4]), 1, None, None)
    sum(out.values()).backward()
    assert zs.grad.abs().sum() > 0 and zt.grad is None
