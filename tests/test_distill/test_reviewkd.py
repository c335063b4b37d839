import pytest
import torch
import torch.nn.functional as F

from kd_transfer.distill import ABFChain, ReviewKDLoss, hcl_loss


def _cifar_resnet(width=1):
    c = [16 * width, 16 * width, 32 * width, 64 * width] if width == 1 else [32, 64, 128, 256]
    return [(c[0], 32, 32), (c[1], 32, 32), (c[2], 16, 16), (c[3], 8, 8)], c[3]


def _wrn(k):
    c = [16, 16 * k, 32 * k, 64 * k]
    return [(c[0], 32, 32), (c[1], 32, 32), (c[2], 16, 16), (c[3], 8, 8)], c[3]


# hand-written feature shapes (batch dim dropped). CIFAR: 32 x 32 input. ImageNet archs at a
# 32 x 32 input (strides 4, 4, 8, 16, 32; the mobilenetv2 stem at stride 2) to keep it fast:
# the connectors depend on the channels, and the 1 x 1 last stage exercises broadcasting.
ARCH_SHAPES = {
    'resnet20': _cifar_resnet(),
    'resnet32': _cifar_resnet(),
    'resnet56': _cifar_resnet(),
    'resnet110': _cifar_resnet(),
    'resnet8x4': _cifar_resnet(4),
    'resnet32x4': _cifar_resnet(4),
    'wrn16_2': _wrn(2),
    'wrn40_2': _wrn(2),
    'shufflev1': ([(24, 32, 32), (240, 16, 16), (480, 8, 8), (960, 4, 4)], 960),
    'resnet18': ([(64, 8, 8), (64, 8, 8), (128, 4, 4), (256, 2, 2), (512, 1, 1)], 512),
    'resnet34': ([(64, 8, 8), (64, 8, 8), (128, 4, 4), (256, 2, 2), (512, 1, 1)], 512),
    'resnet50': ([(64, 8, 8), (256, 8, 8), (512, 4, 4), (1024, 2, 2), (2048, 1, 1)], 2048),
    'mobilenetv2': ([(16, 16, 16), (24, 8, 8), (32, 4, 4), (96, 2, 2), (320, 1, 1)], 1280),
}

PAIRS = [('resnet56', 'resnet20'), ('resnet110', 'resnet20'), ('resnet110', 'resnet32'),
         ('resnet32x4', 'resnet8x4'), ('wrn40_2', 'wrn16_2'), ('resnet32x4', 'shufflev1'),
         ('wrn40_2', 'shufflev1'), ('resnet34', 'resnet18'), ('resnet50', 'mobilenetv2')]


def _shape_dict(arch):
    stages, pooled = ARCH_SHAPES[arch]
    return {'stages': list(stages), 'preact_stages': list(stages), 'pooled': (pooled, ),
            'logits': (100, )}


def _random_feats(shapes, batch=2, requires_grad=False):
    def make(s):
        return torch.randn(batch, *s, requires_grad=requires_grad)
    return {'stages': [make(s) for s in shapes['stages']],
            'preact_stages': [make(s) for s in shapes['preact_stages']],
            'pooled': make(shapes['pooled'])}


# ---- straightforward references -------------------------------------------------------------
def _reference_abf(abf, feat, residual, out_shape):
    """ABF as written in the method description: concat, always interpolate."""
    x = abf.conv1(feat)
    if abf.att_conv is not None:
        r = F.interpolate(residual, size=tuple(x.shape[-2:]), mode='nearest')
        z = torch.sigmoid(abf.att_conv(torch.cat([x, r], dim=1)))
        x = x * z[:, 0:1] + r * z[:, 1:2]
    x = F.interpolate(x, size=tuple(out_shape), mode='nearest')
    return abf.conv2(x), x


def _reference_chain(chain, feats, out_shapes):
    outs, residual = [], None
    for abf, feat, shape in zip(reversed(chain.abfs), reversed(feats), reversed(out_shapes)):
        out, residual = _reference_abf(abf, feat, residual, shape)
        outs.insert(0, out)
    return outs


def _reference_hcl(fs_list, ft_list):
    total = 0.0
    for fs, ft in zip(fs_list, ft_list):
        h = fs.shape[2]
        terms = [F.mse_loss(fs, ft)]
        weights = [1.0]
        next_w = [0.5, 0.25, 0.125]
        for size in (4, 2, 1):
            if size < h:
                w = next_w[len(weights) - 1]
                weights.append(w)
                terms.append(w * F.mse_loss(F.adaptive_avg_pool2d(fs, size),
                                            F.adaptive_avg_pool2d(ft, size)))
        total = total + sum(terms) / sum(weights)
    return total


# ---- HCL ------------------------------------------------------------------------------------
def test_hcl_weights_by_hand():
    # one 8x8 level whose pooled differences vanish: only the plain MSE survives, / 1.875
    fs = torch.zeros(1, 1, 8, 8)
    fs[0, 0, 0, 0], fs[0, 0, 0, 1] = 1.0, -1.0
    loss = hcl_loss([fs], [torch.zeros_like(fs)])
    assert loss.item() == pytest.approx((2 / 64) / (1 + 0.5 + 0.25 + 0.125))
    # a constant difference c on a 4x4 map: levels 2 and 1 used (weights 1/2, 1/4) -> c^2
    fs = torch.full((1, 1, 4, 4), 3.0)
    assert hcl_loss([fs], [torch.zeros_like(fs)]).item() == pytest.approx(9.0)
    # two levels sum; a 1x1 level has no pooling
    a = torch.full((1, 2, 1, 1), 2.0)
    assert hcl_loss([fs, a], [torch.zeros_like(fs), torch.zeros_like(a)]).item() == \
        pytest.approx(9.0 + 4.0)


@pytest.mark.parametrize('hw', [(8, 8), (7, 7), (5, 9), (4, 4), (3, 6), (2, 2), (1, 1), (13, 19)])
def test_hcl_matches_reference(hw):
    torch.manual_seed(0)
    fs = [torch.randn(2, 3, *hw, dtype=torch.float64), torch.randn(2, 4, 1, 1, dtype=torch.float64)]
    ft = [torch.randn_like(f) for f in fs]
    assert hcl_loss(fs, ft).item() == pytest.approx(_reference_hcl(fs, ft).item(), rel=1e-10)


def test_hcl_errors():
    with pytest.raises(ValueError, match='level 0'):
        hcl_loss([torch.zeros(1, 2, 4, 4)], [torch.zeros(1, 3, 4, 4)])
    with pytest.raises(ValueError):
        hcl_loss([torch.zeros(1, 2, 4, 4)], [])


# ---- ABF chain ------------------------------------------------------------------------------
def _check_chain_equals_reference(chain, feats, out_shapes):
    chain = chain.double()
    feats = [f.double().requires_grad_(True) for f in feats]
    outs = chain(feats, out_shapes)
    grads = torch.autograd.grad(sum(o.square().mean() for o in outs),
                                feats + list(chain.parameters()))
    ref = _reference_chain(chain, feats, out_shapes)
    ref_grads = torch.autograd.grad(sum(o.square().mean() for o in ref),
                                    feats + list(chain.parameters()))
    for o, r, shape in zip(outs, ref, out_shapes):
        assert tuple(o.shape[-2:]) == tuple(shape)
        torch.testing.assert_close(o, r, rtol=1e-10, atol=1e-10)
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, rtol=1e-9, atol=1e-10)


def test_abf_chain_equals_concat_reference_with_resizes():
    torch.manual_seed(0)
    # student 16/8/4/1 vs teacher 32/16/8/1 (resizes to out_shape) with a 1x1 deepest level
    chain = ABFChain([6, 10, 12, 12], [5, 7, 9, 9], mid_channels=8)
    feats = [torch.randn(2, 6, 16, 16), torch.randn(2, 10, 8, 8), torch.randn(2, 12, 4, 4),
             torch.randn(2, 12, 1, 1)]
    _check_chain_equals_reference(chain, feats, [(32, 32), (16, 16), (8, 8), (1, 1)])


def test_abf_chain_fpn_like():
    """Detection use: 5 FPN levels, in = mid = out, odd non-square sizes, out_shapes = inputs'."""
    torch.manual_seed(0)
    chain = ABFChain([16] * 5, [16] * 5, mid_channels=16)
    sizes = [(20, 30), (10, 15), (5, 8), (3, 4), (2, 2)]
    feats = [torch.randn(2, 16, *s) for s in sizes]
    _check_chain_equals_reference(chain, feats, sizes)
    big = ABFChain([256] * 5, [256] * 5, mid_channels=256)
    outs = big([torch.randn(1, 256, *s) for s in sizes], sizes)
    assert [tuple(o.shape) for o in outs] == [(1, 256, *s) for s in sizes]


def test_abf_init_and_structure():
    chain = ABFChain([4, 8], [6, 10], mid_channels=5)
    assert chain.abfs[0].att_conv is not None and chain.abfs[1].att_conv is None
    w = chain.abfs[0].conv1[0].weight  # kaiming-uniform a=1: bound sqrt(3 / fan_in)
    assert w.abs().max() <= (3.0 / 4)**0.5 + 1e-6
    with pytest.raises(ValueError):
        ABFChain([4, 8], [6], mid_channels=5)
    with pytest.raises(ValueError, match='expected 2'):
        chain([torch.zeros(1, 4, 2, 2)], [(2, 2)])


# ---- ReviewKDLoss on every project pair ------------------------------------------------------
@pytest.mark.parametrize('teacher_arch,student_arch', PAIRS)
def test_reviewkd_shapes_for_project_pairs(teacher_arch, student_arch):
    torch.manual_seed(0)
    s_shapes, t_shapes = _shape_dict(student_arch), _shape_dict(teacher_arch)
    loss = ReviewKDLoss()
    loss.setup(s_shapes, t_shapes)
    s_stages, s_pooled = ARCH_SHAPES[student_arch]
    assert loss.abf_chain.abfs[0].mid_channels == min(512, s_pooled)
    student = _random_feats(s_shapes, requires_grad=True)
    teacher = _random_feats(t_shapes, requires_grad=True)
    s_feats = student['stages'][1:] + [student['pooled'][:, :, None, None]]
    t_feats = teacher['preact_stages'][1:] + [teacher['pooled'][:, :, None, None]]
    fused = loss.abf_chain(s_feats, [t.shape[-2:] for t in t_feats])
    assert [f.shape for f in fused] == [t.shape for t in t_feats]
    out = loss(student, teacher, None, 10, None, None)
    assert set(out) == {'loss_reviewkd'}
    expected = 5.0 * 0.5 * hcl_loss(fused, t_feats)  # epoch 10 of a 20-epoch warm-up
    assert out['loss_reviewkd'].item() == pytest.approx(expected.item(), rel=1e-5)
    out['loss_reviewkd'].backward()
    assert all(f.grad is not None and f.grad.abs().sum() > 0 for f in student['stages'][1:])
    assert student['pooled'].grad.abs().sum() > 0
    assert student['stages'][0].grad is None  # the stem is not a level
    assert all(f.grad is None for f in student['preact_stages'])  # student_preact=False
    assert all(p.grad is not None for p in loss.abf_chain.parameters())
    assert all(t.grad is None for t in teacher['preact_stages'] + [teacher['pooled']])


def test_reviewkd_default_mid_channels_follow_the_pooled_level():
    """Official CIFAR code / mdistiller: mid = min(512, in_channels[-1]), the pooled vector's
    channels; for ShuffleNetV2 in_channels = [116, 232, 464, 1024] -> 512 (not 464)."""
    s_shapes = {'stages': [(24, 32, 32), (116, 16, 16), (232, 8, 8), (464, 4, 4)],
                'pooled': (1024,)}
    t_shapes = {'preact_stages': [(32, 32, 32), (64, 32, 32), (128, 16, 16), (256, 8, 8)],
                'pooled': (256,)}
    loss = ReviewKDLoss()
    loss.setup(s_shapes, t_shapes)
    assert [abf.mid_channels for abf in loss.abf_chain.abfs] == [512] * 4
    s_shapes['pooled'] = (300,)
    loss.setup(s_shapes, t_shapes)
    assert loss.abf_chain.abfs[0].mid_channels == 300


def test_reviewkd_student_preact_and_options():
    s_shapes, t_shapes = _shape_dict('resnet20'), _shape_dict('resnet56')
    loss = ReviewKDLoss(mid_channels=32, loss_weight=1.0, warmup=0, student_preact=True)
    assert loss.student_keys == ('preact_stages', 'pooled')
    assert loss.teacher_keys == ('preact_stages', 'pooled')
    loss.setup(s_shapes, t_shapes)
    assert loss.abf_chain.abfs[0].mid_channels == 32
    student = _random_feats(s_shapes, requires_grad=True)
    out = loss(student, _random_feats(t_shapes), None, 1, None, None)
    out['loss_reviewkd'].backward()
    assert student['preact_stages'][1].grad is not None and student['stages'][1].grad is None
    with pytest.raises(ValueError, match='levels'):
        ReviewKDLoss().setup(_shape_dict('resnet20'), _shape_dict('resnet50'))
    with pytest.raises(RuntimeError, match='setup'):
        ReviewKDLoss()(student, student, None, 1, None, None)


def test_reviewkd_under_autocast_bf16():
    s_shapes, t_shapes = _shape_dict('resnet8x4'), _shape_dict('resnet32x4')
    loss = ReviewKDLoss()
    loss.setup(s_shapes, t_shapes)
    student, teacher = _random_feats(s_shapes), _random_feats(t_shapes)
    ref = loss(student, teacher, None, 30, None, None)['loss_reviewkd']
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = loss(student, teacher, None, 30, None, None)['loss_reviewkd']
    assert out.dtype == torch.float32
    assert out.item() == pytest.approx(ref.item(), rel=5e-2)
