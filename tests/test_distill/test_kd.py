import math

import pytest
import torch

from kd_transfer.distill import KDLoss


def _kl_by_hand(zs, zt, t):
    """KL(softmax(zt/T) || softmax(zs/T)) summed over classes, averaged over rows, plain python."""
    total = 0.0
    for s_row, t_row in zip(zs, zt):
        es = [math.exp(v / t) for v in s_row]
        et = [math.exp(v / t) for v in t_row]
        ps = [v / sum(es) for v in es]
        pt = [v / sum(et) for v in et]
        total += sum(q * math.log(q / p) for p, q in zip(ps, pt))
    return total / len(zs)


def test_kd_hand_values():
    zs = [[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]]
    zt = [[2.0, 0.0, 1.0], [1.0, 1.0, 1.0]]
    loss = KDLoss()  # T=4, weight 0.9
    out = loss({'logits': torch.tensor(zs)}, {'logits': torch.tensor(zt)},
               torch.tensor([0, 2]), 1, None, None)
    assert set(out) == {'loss_kd'}
    expected = 0.9 * 16 * _kl_by_hand(zs, zt, 4.0)
    assert out['loss_kd'].item() == pytest.approx(expected, rel=1e-5)

    out = KDLoss(temperature=1, loss_weight=0.5)({'logits': torch.tensor(zs)},
                                                 {'logits': torch.tensor(zt)},
                                                 torch.tensor([0, 2]), 1, None, None)
    assert out['loss_kd'].item() == pytest.approx(0.5 * _kl_by_hand(zs, zt, 1.0), rel=1e-5)


def test_kd_zero_for_identical_and_gradients():
    zt = torch.randn(4, 5)
    zs = zt.clone().requires_grad_(True)
    out = KDLoss()({'logits': zs}, {'logits': zt}, torch.zeros(4, dtype=torch.long), 1, None, None)
    assert out['loss_kd'].item() == pytest.approx(0.0, abs=1e-6)

    zs = torch.randn(4, 5, requires_grad=True)
    zt = torch.randn(4, 5, requires_grad=True)
    out = KDLoss()({'logits': zs}, {'logits': zt}, torch.zeros(4, dtype=torch.long), 1, None, None)
    out['loss_kd'].backward()
    assert zs.grad is not None and zs.grad.abs().sum() > 0
    assert zt.grad is None


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16, torch.float64])
def test_kd_dtypes(dtype):
    zs, zt = torch.randn(3, 6), torch.randn(3, 6)
    ref = KDLoss()({'logits': zs}, {'logits': zt}, None, 1, None, None)['loss_kd']
    out = KDLoss()({'logits': zs.to(dtype)}, {'logits': zt.to(torch.float16)}, None, 1, None,
                   None)['loss_kd']
    assert out.dtype in (torch.float32, torch.float64)
    assert out.item() == pytest.approx(ref.item(), rel=2e-2)
