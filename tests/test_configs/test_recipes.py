"""The papers' recipes: which features each configured loss reads and the published
hyper-parameters of the ImageNet pairs (values written out from the public configs)."""
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import MODELS

import kd_transfer  # noqa: F401
from kd_transfer.distill import hcl_loss

IMAGENET = Path(__file__).parents[2] / 'configs' / 'distill' / 'imagenet'
CIFAR = Path(__file__).parents[2] / 'configs' / 'distill' / 'cifar100'


def _losses(path):
    cfg = Config.fromfile(str(path))
    return cfg.model, [dict(loss) for loss in cfg.model.distill_losses]


def _distiller(path, size):
    cfg = Config.fromfile(str(path))
    cfg.model.teacher_checkpoint = None
    cfg.model.input_size = (size, size)
    torch.manual_seed(0)
    return MODELS.build(cfg.model).eval()


# mdistiller configs/imagenet/r50_mv1/*.yaml (+ mdistiller/engine/cfg.py defaults) and the official
# ReviewKD ImageNet README / models/reviewkd.py, written out by hand.
R50_MV1 = {
    'kd': (0.5, dict(type='KDLoss', temperature=1, loss_weight=0.5)),
    'dkd': (1.0, dict(type='DKDLoss', alpha=1.0, beta=2.0, temperature=1, warmup=1)),
    'reviewkd': (1.0, dict(type='ReviewKDLoss', mid_channels=256, loss_weight=8.0, warmup=1,
                           student_preact=True)),
    'at': (1.0, dict(type='ATLoss', p=2, loss_weight=1000, stages=[(2, 1), (3, 2), (4, 3)])),
}


@pytest.mark.parametrize('method', list(R50_MV1))
def test_resnet50_mobilenetv1_published_hyper_parameters(method):
    model, losses = _losses(IMAGENET / f'{method}_resnet50_mobilenetv1.py')
    ce, loss = R50_MV1[method]
    assert model.student.backbone.type == 'MobileNetV1'
    assert model.teacher.backbone == dict(type='TVResNet', depth=50)
    assert model.ce_weight == ce
    assert losses == [loss]


def test_resnet34_resnet18_reviewkd_official_recipe():
    model, losses = _losses(IMAGENET / 'reviewkd_resnet34_resnet18.py')
    assert model.ce_weight == 1.0
    assert losses == [dict(type='ReviewKDLoss', mid_channels=512, loss_weight=1.0, warmup=1,
                           student_preact=True)]


def test_resnet50_mobilenetv2_is_labelled_the_suites_own():
    for path in sorted(IMAGENET.glob('*_resnet50_mobilenetv2.py')):
        assert "suite's own setting" in path.read_text(), path


@pytest.mark.parametrize('name,in_channels,out_channels,mid', [
    # official ReviewKD ImageNet/models/reviewkd.py build_review_kd
    ('reviewkd_resnet34_resnet18', [64, 128, 256, 512, 512], [64, 128, 256, 512, 512], 512),
    ('reviewkd_resnet50_mobilenetv1', [128, 256, 512, 1024, 1024],
     [256, 512, 1024, 2048, 2048], 256),
])
def test_imagenet_reviewkd_reads_pre_relu_student_features(name, in_channels, out_channels, mid):
    distiller = _distiller(IMAGENET / f'{name}.py', 64)
    loss = distiller.distill_losses[0]
    abfs = loss.abf_chain.abfs
    assert [a.conv1[0].in_channels for a in abfs] == in_channels
    assert [a.conv2[0].out_channels for a in abfs] == out_channels
    assert {a.mid_channels for a in abfs} == {mid}
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        s = distiller.student.backbone.forward_features(x)
        t = distiller.teacher.backbone.forward_features(x)
        got = loss(s, t, None, 5, None, None)['loss_reviewkd']
        # the official student features: pre-ReLU stage outputs (x1..x4 of its ResNet,
        # extract_feature(preReLU=True) of its MobileNet), then the pooled vector
        s_feats = [f for f in s['preact_stages'][1:]] + [s['pooled'][:, :, None, None]]
        t_feats = [f for f in t['preact_stages'][1:]] + [t['pooled'][:, :, None, None]]
        assert all((f < 0).any() for f in s_feats[:-1])  # really before the ReLU
        fused = loss.abf_chain(s_feats, [f.shape[-2:] for f in t_feats])
        want = loss.loss_weight * hcl_loss(fused, t_feats)
    torch.testing.assert_close(got, want)


def test_imagenet_at_mobilenetv1_pairs_as_mdistiller():
    distiller = _distiller(IMAGENET / 'at_resnet50_mobilenetv1.py', 64)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        s = distiller.student.backbone.forward_features(x)
        t = distiller.teacher.backbone.forward_features(x)
        got = distiller.distill_losses[0](s, t, None, 5, None, None)['loss_at']

    def at(f):  # mdistiller single_stage_at_loss
        return F.normalize(f.pow(2).mean(1).reshape(f.size(0), -1))

    want = 0.0
    for fs, ft in zip(s['stages'][2:], t['stages'][1:4]):  # student s8/16/32, teacher s4/8/16
        assert fs.shape[-1] * 2 == ft.shape[-1]
        ft = F.adaptive_avg_pool2d(ft, fs.shape[-2:])
        want = want + (at(fs) - at(ft)).pow(2).mean()
    torch.testing.assert_close(got, 1000 * want)


def _randomise_bn(model):
    gen = torch.Generator().manual_seed(7)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.rand(c, generator=gen) * 2 - 1)
            m.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
            m.bias.data.copy_(torch.rand(c, generator=gen) * 2 - 1)


def _public_wrn_feats(net, x, preact):
    """RepDistiller / ReviewKD wrn.forward(x, is_feat=True, preact=preact) -> [f0 .. f3]."""
    def block(b, t):
        equal = b.conv1.in_channels == b.conv2.out_channels
        if not equal:
            t = F.relu(b.bn1(t))
            out = b.conv1(t)
        else:
            out = b.conv1(F.relu(b.bn1(t)))
        return (t if equal else b.convShortcut(t)) + b.conv2(F.relu(b.bn2(out)))

    feats = [net.conv1(x)]
    for stage in (net.block1, net.block2, net.block3):
        f = feats[-1]
        for b in stage.layer:
            f = block(b, f)
        feats.append(f)
    if preact:
        feats = [feats[0], net.block2.layer[0].bn1(feats[1]), net.block3.layer[0].bn1(feats[2]),
                 net.bn1(feats[3])]
    return feats


def test_wrn_at_and_reviewkd_read_the_public_tensors():
    """AT (RepDistiller: feat[1:-1], preact=False) reads raw block outputs, also at the last
    stage; ReviewKD (official CIFAR train.py) reads the teacher's preact=True features and
    the WRN student's preact=False ones."""
    x = torch.randn(2, 3, 32, 32)
    at = _distiller(CIFAR / 'at_wrn40_2_wrn16_2.py', 32)
    _randomise_bn(at)
    s_net, t_net = at.student.backbone, at.teacher.backbone
    with torch.no_grad():
        s, t = s_net.forward_features(x), t_net.forward_features(x)
        got = at.distill_losses[0](s, t, None, 1, None, None)['loss_at']
        fs_all, ft_all = _public_wrn_feats(s_net, x, False), _public_wrn_feats(t_net, x, False)
    want = sum((F.normalize(a.pow(2).mean(1).flatten(1)) -
                F.normalize(b.pow(2).mean(1).flatten(1))).pow(2).mean()
               for a, b in zip(fs_all[1:], ft_all[1:]))
    torch.testing.assert_close(got, 1000 * want)

    rkd = _distiller(CIFAR / 'reviewkd_wrn40_2_wrn16_2.py', 32)
    _randomise_bn(rkd)
    loss = rkd.distill_losses[0]
    s_net, t_net = rkd.student.backbone, rkd.teacher.backbone
    with torch.no_grad():
        s, t = s_net.forward_features(x), t_net.forward_features(x)
        got = loss(s, t, None, 40, None, None)['loss_reviewkd']
        s_pub = _public_wrn_feats(s_net, x, False)[1:] + [s['pooled'][:, :, None, None]]
        t_pub = _public_wrn_feats(t_net, x, True)[1:] + [t['pooled'][:, :, None, None]]
        torch.testing.assert_close(s['pooled'], F.relu(s_net.bn1(s_pub[2])).mean(dim=(2, 3)))
        fused = loss.abf_chain(s_pub, [f.shape[-2:] for f in t_pub])
        want = 5.0 * hcl_loss(fused, t_pub)
    torch.testing.assert_close(got, want)
