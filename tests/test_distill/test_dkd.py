import math

import numpy as np
import pytest
import torch

from kd_transfer.distill import DKDLoss


def _softmax(v):
    e = np.exp(v - v.max())
    return e / e.sum()


def _dkd_reference(zs, zt, labels, t):
    """TCKD / NCKD per sample with explicit loops (renormalised non-target probabilities)."""
    tckd, nckd = 0.0, 0.0
    for s_row, t_row, y in zip(zs, zt, labels):
        ps, pt = _softmax(s_row / t), _softmax(t_row / t)
        bs, bt = [ps[y], 1 - ps[y]], [pt[y], 1 - pt[y]]
        tckd += sum(q * math.log(q / p) for p, q in zip(bs, bt))
        for j in range(len(s_row)):
            if j != y:
                qs, qt = ps[j] / (1 - ps[y]), pt[j] / (1 - pt[y])
                nckd += qt * math.log(qt / qs)
    n = len(labels)
    return tckd * t * t / n, nckd * t * t / n


def test_dkd_against_loops():
    rng = np.random.default_rng(0)
    zs, zt = rng.standard_normal((4, 5)) * 3, rng.standard_normal((4, 5)) * 3
    labels = np.array([0, 3, 4, 3])
    loss = DKDLoss(alpha=1.0, beta=8.0, temperature=4.0, warmup=20)
    args = ({'logits': torch.tensor(zs)}, {'logits': torch.tensor(zt)}, torch.tensor(labels))
    out = loss(*args, 40, None, None)
    assert set(out) == {'loss_tckd', 'loss_nckd'}
    tckd, nckd = _dkd_reference(zs, zt, labels, 4.0)
    assert out['loss_tckd'].item() == pytest.approx(tckd, rel=1e-6)
    assert out['loss_nckd'].item() == pytest.approx(8.0 * nckd, rel=1e-6)
    assert (out['loss_tckd'] + out['loss_nckd']).item() == pytest.approx(tckd + 8 * nckd, rel=1e-6)
    # warm-up: epoch 5 of 20 -> factor 0.25 on both terms
    out5 = DKDLoss(alpha=2.0, beta=0.5, temperature=4.0, warmup=20)(*args, 5, None, None)
    assert out5['loss_tckd'].item() == pytest.approx(0.25 * 2.0 * tckd, rel=1e-6)
    assert out5['loss_nckd'].item() == pytest.approx(0.25 * 0.5 * nckd, rel=1e-6)


def test_dkd_reformulates_kd():
    """Paper identity, per sample: KL(pt || ps) = TCKD + (1 - pt_target) * NCKD."""
    rng = np.random.default_rng(1)
    zs, zt = rng.standard_normal((1, 6)), rng.standard_normal((1, 6))
    labels = np.array([2])
    out = DKDLoss(alpha=1, beta=1, temperature=1, warmup=0)(
        {'logits': torch.tensor(zs)}, {'logits': torch.tensor(zt)}, torch.tensor(labels), 1, None,
        None)
    ps, pt = _softmax(zs[0]), _softmax(zt[0])
    kd = float((pt * np.log(pt / ps)).sum())
    tckd = out['loss_tckd'].item()
    nckd = out['loss_nckd'].item()
    assert tckd + (1 - pt[2]) * nckd == pytest.approx(kd, rel=1e-9)


def test_dkd_gradients_and_half_inputs():
    zs = torch.randn(3, 10, requires_grad=True)
    zt = torch.randn(3, 10, requires_grad=True)
    labels = torch.tensor([1, 2, 9])
    out = DKDLoss()({'logits': zs}, {'logits': zt}, labels, 20, None, None)
    sum(out.values()).backward()
    assert zs.grad.abs().sum() > 0 and zt.grad is None
    ref = sum(DKDLoss()({'logits': zs.detach()}, {'logits': zt.detach()}, labels, 20, None,
                        None).values())
    half = sum(DKDLoss()({'logits': zs.detach().half()}, {'logits': zt.detach().half()}, labels,
                         20, None, None).values())
    assert half.dtype == torch.float32
    assert half.item() == pytest.approx(ref.item(), rel=2e-2)
    with pytest.raises(ValueError, match='labels'):
        DKDLoss()({'logits': zs}, {'logits': zt}, torch.zeros(3, 10), 1, None, None)
