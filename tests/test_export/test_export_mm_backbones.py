"""Exported backbones load into mmdet / mmseg through ``init_cfg=dict(type='Pretrained')`` with
every key filled, and compute what the classifier they came from computes."""
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.registry import MODELS as ROOT_MODELS

from kd_transfer.export import export_backbone
from kd_transfer.models import build_arch


def randomize(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in module.state_dict().items():
            if t.dtype.is_floating_point:
                shift = 0.5 if 'running_var' in name else -0.5  # variances stay positive
                t.copy_(torch.rand(t.shape, generator=gen) + shift)
    return module


def build_in(scope: str, cfg: dict):
    import mmdet.models  # noqa: F401  (register mmdet's / mmseg's modules)
    import mmseg.models  # noqa: F401
    with DefaultScope.overwrite_default_scope(scope):
        model = ROOT_MODELS.build(cfg)
    model.init_weights()
    model.eval()
    return model


def assert_fully_loaded(model: torch.nn.Module, exported: dict, head: tuple = ()) -> None:
    """Every tensor of ``model`` (but the unused head) equals the exported one: no key missed."""
    own = {k: v for k, v in model.state_dict().items() if not k.startswith(head or ('\0',))}
    assert sorted(own) == sorted(exported)
    for key, value in own.items():
        assert torch.equal(value, exported[key]), key


@pytest.fixture(scope='module')
def resnet18_export(tmp_path_factory):
    """A kd_transfer KDClassifier checkpoint of a random ResNet-18, exported."""
    root = tmp_path_factory.mktemp('r18')
    cfg = dict(type='KDClassifier', backbone=dict(type='TVResNet', depth=18))
    classifier = randomize(ROOT_MODELS.build(cfg), seed=0)
    src = root / 'epoch_90.pth'
    torch.save({'meta': {'cfg': Config(dict(model=cfg)).pretty_text},
                'state_dict': classifier.state_dict()}, src)
    out = root / 'resnet18_baseline.pth'
    summary = export_backbone(str(src), str(out))
    assert summary['arch'] == 'resnet18' and summary['target'].startswith('mmdet ResNet')
    classifier.eval()
    return classifier.backbone, out, torch.load(out, weights_only=True)['state_dict']


def stage_outputs(backbone, x):
    with torch.no_grad():
        return backbone.forward_features(x)['stages'][1:]


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg'])
def test_resnet18_in_mmdet_and_mmseg(resnet18_export, scope):
    tv_resnet, path, exported = resnet18_export
    model = build_in(scope, dict(type='ResNet', depth=18, style='pytorch',
                                 out_indices=(0, 1, 2, 3),
                                 init_cfg=dict(type='Pretrained', checkpoint=str(path))))
    assert_fully_loaded(model, exported)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        got = model(x)
    for g, r in zip(got, stage_outputs(tv_resnet, x)):
        torch.testing.assert_close(g, r)


def test_resnet18_in_the_dilated_mmseg_transfer_backbone(resnet18_export):
    """The seg configs' d8 ResNet-18 (mmseg 'R-18b' + dilation) takes every exported key."""
    _, path, exported = resnet18_export
    cfg = Config.fromfile('configs/transfer/seg/deeplabv3plus_resnet18_voc07.py')
    backbone = cfg.model.backbone.copy()
    backbone.norm_cfg = dict(type='BN', requires_grad=True)  # SyncBN needs a process group
    backbone.init_cfg.checkpoint = str(path)
    model = build_in('mmseg', backbone)
    assert_fully_loaded(model, exported)
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 64, 64))
    assert [tuple(o.shape[1:]) for o in outs] == \
        [(64, 16, 16), (128, 8, 8), (256, 8, 8), (512, 8, 8)]


@pytest.mark.parametrize('arch,scope', [('mobilenetv2', 'mmdet'), ('resnet8x4', 'mmseg')])
def test_own_archs_as_backbones(tmp_path, arch, scope):
    net = randomize(build_arch(arch), seed=1)
    net.eval()
    src = tmp_path / 'src.pth'
    torch.save({'model': net.state_dict(), 'epoch': 1}, src)
    out = tmp_path / 'out.pth'
    export_backbone(str(src), str(out))
    exported = torch.load(out, weights_only=True)['state_dict']
    cfg = Config.fromfile(f'configs/_base_/students/{arch}.py')
    backbone_cfg = {k: v for k, v in cfg.backbone.items() if k != '_delete_'}
    backbone_cfg['init_cfg'] = dict(type='Pretrained', checkpoint=str(out))
    model = build_in(scope, backbone_cfg)
    head = ('classifier.',) if arch == 'mobilenetv2' else ('fc.',)
    assert_fully_loaded(model, exported, head)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        got = model(x)
    ref = stage_outputs(net, x)
    assert len(got) == len(cfg.backbone_channels)
    for g, r in zip(got, ref):
        torch.testing.assert_close(g, r)
