"""``norm_eval`` / ``frozen_stages`` of every kd_transfer architecture (ArchBase), with mmdet's
semantics, and their use in the detection transfer configs only."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope
from torch.nn.modules.batchnorm import _BatchNorm

import kd_transfer  # noqa: F401  (registration)

REPO = Path(__file__).resolve().parents[2]


def _bn_stats(model):
    return {n: (m.running_mean.clone(), m.running_var.clone(), int(m.num_batches_tracked))
            for n, m in model.named_modules() if isinstance(m, _BatchNorm)}


def _train_step(model, size=32):
    """One forward / backward in train mode on random images; returns the BN stats before."""
    model.train()
    before = _bn_stats(model)
    gen = torch.Generator().manual_seed(0)
    outs = model(torch.randn(2, 3, size, size, generator=gen) * 3 + 1)
    loss = sum(o.sum() for o in outs)
    if loss.requires_grad:  # everything frozen: nothing to backpropagate
        loss.backward()
    return before


def _changed(before, after, name):
    return not all(torch.equal(a, b) for a, b in zip(before[name][:2], after[name][:2]))


def _resnet8(**kw):
    return MODELS.build(dict(type='CifarResNet', depth=8, out_indices=(0, 1, 2), **kw))


def test_defaults_train_everything():
    """Without the options, BN statistics move and every stage gets gradients (so the checks
    below can fail)."""
    model = _resnet8()
    assert model.norm_eval is False and model.frozen_stages == -1
    before = _train_step(model)
    after = _bn_stats(model)
    assert all(_changed(before, after, n) for n in before)
    assert all(p.grad is not None for n, p in model.named_parameters() if not n.startswith('fc'))


def test_norm_eval_keeps_bn_statistics_but_trains_the_affine_parameters():
    model = _resnet8(norm_eval=True)
    before = _train_step(model)
    assert model.training
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    # stem + 3 blocks x 2 + the projection shortcuts of layer2 and layer3
    assert len(bns) == 9 and all(not m.training for m in bns)
    after = _bn_stats(model)
    for name in before:
        assert not _changed(before, after, name), name
        assert before[name][2] == after[name][2]
    assert model.bn1.weight.grad is not None and model.layer3[0].bn2.bias.grad is not None
    # eval() / train() round trip: still frozen statistics
    assert model.eval().train() is model and all(not m.training for m in bns)


@pytest.mark.parametrize('frozen_stages, frozen_prefixes', [
    (0, ('conv1.', 'bn1.')),
    (1, ('conv1.', 'bn1.', 'layer1.')),
    (3, ('conv1.', 'bn1.', 'layer1.', 'layer2.', 'layer3.')),
])
def test_frozen_stages_of_a_cifar_resnet(frozen_stages, frozen_prefixes):
    model = _resnet8(frozen_stages=frozen_stages)
    before = _train_step(model)
    after = _bn_stats(model)
    for name, p in model.named_parameters():
        if name.startswith('fc.'):  # backbone mode: the unused classifier is frozen anyway
            continue
        frozen = name.startswith(frozen_prefixes)
        assert p.requires_grad is not frozen, name
        assert (p.grad is None) is frozen, name
    for name, m in model.named_modules():
        if isinstance(m, _BatchNorm):
            frozen = (name + '.').startswith(frozen_prefixes)
            assert m.training is not frozen, name
            assert _changed(before, after, name) is not frozen, name


def test_frozen_stages_equal_mmdet_resnet():
    """TVResNet and mmdet's ResNet share torchvision's parameter names: the same options
    freeze the same parameters and put the same BatchNorm layers in eval mode."""
    import mmdet.models  # noqa: F401  (registers mmdet's ResNet)
    for frozen_stages in (0, 2):
        ours = MODELS.build(dict(type='TVResNet', depth=18, out_indices=(0, 1, 2, 3),
                                 frozen_stages=frozen_stages, norm_eval=False))
        with DefaultScope.overwrite_default_scope('mmdet'):
            ref = MODELS.build(dict(type='ResNet', depth=18, frozen_stages=frozen_stages,
                                    norm_eval=False, style='pytorch'))
        ours.train()
        ref.train()

        def summary(model):
            return ({n for n, p in model.named_parameters() if not p.requires_grad},
                    {n for n, m in model.named_modules()
                     if isinstance(m, _BatchNorm) and not m.training})

        frozen, eval_bns = summary(ours)
        frozen -= {'fc.weight', 'fc.bias'}  # classifier: not in mmdet's ResNet
        assert (frozen, eval_bns) == summary(ref)
        assert frozen  # not vacuous


def test_frozen_stages_of_mobilenetv2():
    """Stem = features[0:2], stage 1 = features[2:4] (see TVMobileNetV2's docstring)."""
    model = MODELS.build(dict(type='TVMobileNetV2', out_indices=(0, 1, 2, 3), frozen_stages=1))
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    expected = {n for n, _ in model.named_parameters()
                if n.split('.')[:2] in (['features', '0'], ['features', '1'],
                                        ['features', '2'], ['features', '3'])}
    head = {n for n in frozen if n.startswith(('features.18.', 'classifier.'))}
    assert frozen - head == expected
    model.train()
    assert not model.features[3].training and model.features[4].training


@pytest.mark.parametrize('bad', [-2, 4, 1.0, True])
def test_bad_frozen_stages_is_refused(bad):
    with pytest.raises(ValueError, match=r'CifarResNet: frozen_stages .*\[-1, 3\]'):
        _resnet8(frozen_stages=bad)


def test_frozen_stages_survive_under_no_grad():
    """A model built inside torch.no_grad() still finds its frozen stages."""
    with torch.no_grad():
        model = _resnet8(frozen_stages=1)
    assert not model.layer1[0].conv1.weight.requires_grad
    assert model.layer2[0].conv1.weight.requires_grad


def test_detection_configs_freeze_and_segmentation_configs_do_not():
    """Faster R-CNN backbones use norm_eval / frozen_stages=1 (as mmdet's ResNet recipe);
    DeepLab backbones keep training BN (as mmseg's)."""
    det = sorted((REPO / 'configs' / 'transfer' / 'det').glob('*.py'))
    assert det
    for path in det:
        backbone = Config.fromfile(str(path)).model.backbone
        assert (backbone.norm_eval, backbone.frozen_stages) == (True, 1), path.name
    for name in ('deeplabv3plus_resnet8x4_voc07.py', 'deeplabv3_mobilenetv2_coco80.py'):
        backbone = Config.fromfile(str(REPO / 'configs' / 'transfer' / 'seg' / name)).model.backbone
        assert backbone.get('norm_eval', False) is False, name
        assert backbone.get('frozen_stages', -1) == -1, name
