import math

import numpy as np
import pytest
import torch
from torch import nn

from kd_transfer.distill import GLDLoss


def _np_cells(f, div, mode):
    """Cell vectors per sample in row-major grid order, with explicit bin bounds."""
    b, c, h, w = f.shape
    out = []
    for n in range(b):
        cells = []
        for i in range(div):
            for j in range(div):
                if mode == 'fixed':
                    k = h // div
                    r0, r1, c0, c1 = i * k, (i + 1) * k, j * k, (j + 1) * k
                else:  # adaptive pooling bins: [floor(i h / d), ceil((i + 1) h / d))
                    r0, r1 = (i * h) // div, -((-(i + 1) * h) // div)
                    c0, c1 = (j * w) // div, -((-(j + 1) * w) // div)
                cells.append(f[n, :, r0:r1, c0:c1].mean(axis=(1, 2)))
        out.append(cells)
    return out  # [B][div^2] of C vectors


def _np_kl_lnd(zs_rows, zt_rows):
    total = 0.0
    for s, t in zip(zs_rows, zt_rows):
        s = s / np.std(s, ddof=1)
        t = t / np.std(t, ddof=1)
        ps = np.exp(s) / np.exp(s).sum()
        pt = np.exp(t) / np.exp(t).sum()
        total += float((pt * np.log(pt / ps)).sum())
    return total / len(zs_rows)


def _np_relation(rows_s, rows_t):
    n = len(rows_s)

    def dist(rows):
        d = np.zeros((n, n))
        for i in range(n):
            for j in range(n):
                d[i, j] = sum((a - b)**2 for a, b in zip(rows[i], rows[j]))
        for i in range(n):
            d[i] /= math.sqrt((d[i]**2).sum())
        return d

    ds, dt = dist(rows_s), dist(rows_t)
    return float(((dt - ds)**2).sum()) / n**2


@pytest.mark.parametrize('mode,size', [('adaptive', 4), ('adaptive', 7), ('fixed', 7)])
def test_gld_against_numpy(mode, size):
    torch.manual_seed(0)
    b, cs, ct, k, div = 3, 4, 6, 5, 2
    fc_s, fc_t = nn.Linear(cs, k).double(), nn.Linear(ct, k).double()
    fs = torch.randn(b, cs, size, size, dtype=torch.float64)
    ft = torch.randn(b, ct, size, size, dtype=torch.float64)
    gs, gt = fc_s(fs.mean((2, 3))), fc_t(ft.mean((2, 3))).detach()
    loss = GLDLoss(alpha=0.7, beta=500, div=div, pool=mode)
    loss.setup({'feat_map': (cs, size, size)}, {'feat_map': (ct, size, size)})
    out = loss({'feat_map': fs, 'logits': gs}, {'feat_map': ft, 'logits': gt},
               torch.zeros(b, dtype=torch.long), 1, fc_s, fc_t)
    assert set(out) == {'loss_gld_global', 'loss_gld_local', 'loss_gld_relation'}

    ws, bs_ = fc_s.weight.detach().numpy(), fc_s.bias.detach().numpy()
    wt, bt_ = fc_t.weight.detach().numpy(), fc_t.bias.detach().numpy()
    cells_s = _np_cells(fs.numpy(), div, mode)
    cells_t = _np_cells(ft.numpy(), div, mode)
    loc_s = [[ws @ c + bs_ for c in cells] for cells in cells_s]
    loc_t = [[wt @ c + bt_ for c in cells] for cells in cells_t]
    glob_s, glob_t = gs.detach().numpy(), gt.numpy()

    l_glob = _np_kl_lnd(list(glob_s), list(glob_t))
    l_loc = _np_kl_lnd([r for rows in loc_s for r in rows], [r for rows in loc_t for r in rows])
    # relation rows in a different order than the implementation (per sample: global, locals)
    rows_s = [r for n in range(b) for r in [glob_s[n]] + loc_s[n]]
    rows_t = [r for n in range(b) for r in [glob_t[n]] + loc_t[n]]
    l_rel = _np_relation(rows_s, rows_t)

    assert out['loss_gld_global'].item() == pytest.approx(0.7 * l_glob, rel=1e-6)
    assert out['loss_gld_local'].item() == pytest.approx(4 * l_loc, rel=1e-6)
    assert out['loss_gld_relation'].item() == pytest.approx(500 * l_rel, rel=1e-6)


def test_gld_fixed_pool_drops_last_row_and_column():
    loss = GLDLoss(pool='fixed')
    f = torch.zeros(1, 1, 7, 7)
    f[..., 6, :] = 100.0
    f[..., :, 6] = 100.0
    assert torch.count_nonzero(loss.local_vectors(f)) == 0
    assert torch.count_nonzero(GLDLoss(pool='adaptive').local_vectors(f)) == 3


def test_gld_gradients_shared_classifier_and_teacher_frozen():
    torch.manual_seed(1)
    fc_s, fc_t = nn.Linear(4, 5), nn.Linear(6, 5)
    fs = torch.randn(2, 4, 8, 8, requires_grad=True)
    ft = torch.randn(2, 6, 8, 8, requires_grad=True)
    gs = fc_s(fs.mean((2, 3)))
    with torch.no_grad():
        gt = fc_t(ft.mean((2, 3)))
    loss = GLDLoss()
    out = loss({'feat_map': fs, 'logits': gs}, {'feat_map': ft, 'logits': gt}, None, 1, fc_s, fc_t)
    # only the local term: the student classifier gets a gradient through the local logits
    out['loss_gld_local'].backward(retain_graph=True)
    assert fc_s.weight.grad.abs().sum() > 0
    sum(out.values()).backward()
    assert fs.grad.abs().sum() > 0
    assert ft.grad is None and fc_t.weight.grad is None


def test_gld_rejects_bad_config():
    with pytest.raises(ValueError, match='pool'):
        GLDLoss(pool='max')
    with pytest.raises(ValueError, match='feat_map'):
        GLDLoss(div=4).setup({'feat_map': (8, 2, 2)}, {'feat_map': (8, 8, 8)})
