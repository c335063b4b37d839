import numpy as np
import pytest
import torch

from kd_transfer.distill import ATLoss


def _np_at(fs_list, ft_list, p=2.0, weight=1000.0):
    """AT written with numpy: per sample, attention = mean_c |f|^p, flattened, / its norm."""
    total = 0.0
    for fs, ft in zip(fs_list, ft_list):
        fs, ft = fs.astype(np.float64), ft.astype(np.float64)
        sq = 0.0
        for b in range(fs.shape[0]):
            a_s = (np.abs(fs[b])**p).mean(axis=0).reshape(-1)
            a_t = (np.abs(ft[b])**p).mean(axis=0).reshape(-1)
            a_s /= np.linalg.norm(a_s)
            a_t /= np.linalg.norm(a_t)
            sq += ((a_s - a_t)**2).sum()
        total += sq / (fs.shape[0] * fs.shape[2] * fs.shape[3])
    return weight * total


def _avg_pool2x(x):
    b, c, h, w = x.shape
    return x.reshape(b, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5))


def test_at_matches_numpy():
    rng = np.random.default_rng(0)
    s = [rng.standard_normal((2, 3, 8, 8)) for _ in range(3)]
    t = [rng.standard_normal((2, 5, 8, 8)) for _ in range(3)]
    loss = ATLoss()
    loss.setup({'stages': [(3, 8, 8)] * 3}, {'stages': [(5, 8, 8)] * 3})
    out = loss({'stages': [torch.tensor(x, dtype=torch.float32) for x in s]},
               {'stages': [torch.tensor(x, dtype=torch.float32) for x in t]}, None, 1, None, None)
    assert set(out) == {'loss_at'}
    # default: every stage after the stem (indices 1, 2)
    assert out['loss_at'].item() == pytest.approx(_np_at(s[1:], t[1:]), rel=1e-4)


def test_at_pools_the_larger_map_and_pairs():
    rng = np.random.default_rng(1)
    s1, t1 = rng.standard_normal((2, 3, 8, 8)), rng.standard_normal((2, 4, 4, 4))
    s2, t2 = rng.standard_normal((2, 3, 4, 4)), rng.standard_normal((2, 4, 8, 8))
    loss = ATLoss(loss_weight=1.0, stages=[1, (2, 2)])
    f = lambda x: torch.tensor(x, dtype=torch.float32)  # noqa: E731
    out = loss({'stages': [None, f(s1), f(s2)]}, {'stages': [None, f(t1), f(t2)]}, None, 1, None,
               None)
    expected = _np_at([_avg_pool2x(s1), s2], [t1, _avg_pool2x(t2)], weight=1.0)
    assert out['loss_at'].item() == pytest.approx(expected, rel=1e-4)


def test_at_gradients_and_errors():
    fs = [torch.rand(2, 3, 4, 4, requires_grad=True) for _ in range(2)]
    ft = [torch.rand(2, 3, 4, 4, requires_grad=True) for _ in range(2)]
    out = ATLoss()({'stages': fs}, {'stages': ft}, None, 1, None, None)
    out['loss_at'].backward()
    assert fs[1].grad.abs().sum() > 0 and fs[0].grad is None  # stem excluded
    assert all(t.grad is None for t in ft)
    with pytest.raises(ValueError, match='pairs'):
        ATLoss().setup({'stages': [(3, 4, 4)] * 3}, {'stages': [(3, 4, 4)] * 4})
