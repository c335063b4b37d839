"""Every architecture of kd_transfer.models against the feature contract and the literature."""
import pytest
import torch
import torchvision
from mmengine.registry import MODELS

from kd_transfer.models import ARCHS, CIFAR_ARCHS, IMAGENET_ARCHS, build_arch

# Written out from the papers / public code, not derived from the implementation:
# name -> (stage_channels incl. stem, stride of each stage w.r.t. the input, feat_map channels)
_RESNET_CIFAR = ([16, 16, 32, 64], [1, 1, 2, 4], 64)
EXPECTED = {
    **{f'resnet{d}': _RESNET_CIFAR for d in (8, 14, 20, 32, 44, 56, 110)},
    'resnet8x4': ([32, 64, 128, 256], [1, 1, 2, 4], 256),
    'resnet32x4': ([32, 64, 128, 256], [1, 1, 2, 4], 256),
    'wrn16_2': ([16, 32, 64, 128], [1, 1, 2, 4], 128),
    'wrn40_1': ([16, 16, 32, 64], [1, 1, 2, 4], 64),
    'wrn40_2': ([16, 32, 64, 128], [1, 1, 2, 4], 128),
    'shufflev1': ([24, 240, 480, 960], [1, 2, 4, 8], 960),
    'shufflev2': ([24, 116, 232, 464], [1, 2, 4, 8], 1024),
    'mobilenetv2_cifar': ([16, 12, 16, 48, 160], [2, 2, 4, 8, 16], 1280),
    'resnet18': ([64, 64, 128, 256, 512], [2, 4, 8, 16, 32], 512),
    'resnet34': ([64, 64, 128, 256, 512], [2, 4, 8, 16, 32], 512),
    'resnet50': ([64, 256, 512, 1024, 2048], [2, 4, 8, 16, 32], 2048),
    'mobilenetv2': ([16, 24, 32, 96, 320], [2, 4, 8, 16, 32], 1280),
    'mobilenetv1': ([64, 128, 256, 512, 1024], [2, 4, 8, 16, 32], 1024),
}
# Parameter counts in millions with 100 classes (CIFAR; CRD / mdistiller tables) or 1000
# classes (ImageNet; torchvision's model table).
PARAMS_M = {
    'resnet20': 0.27, 'resnet32': 0.47, 'resnet56': 0.86, 'resnet110': 1.7, 'resnet8x4': 1.2,
    'resnet32x4': 7.4, 'wrn16_2': 0.70, 'wrn40_1': 0.57, 'wrn40_2': 2.2, 'shufflev1': 0.95,
    'shufflev2': 1.35, 'mobilenetv2_cifar': 0.81, 'resnet18': 11.69, 'resnet34': 21.80,
    'resnet50': 25.56, 'mobilenetv2': 3.50, 'mobilenetv1': 4.23,
}
# Stages ending in a ReLU (relu(preact) == stage) vs. linear-bottleneck nets (preact == stage).
# (ShuffleNetV2's preact is taken before the channel shuffle; WRN is pre-activation: own tests.)
RELU_ENDED = [n for n in ARCHS if n.startswith('resnet') or n in ('shufflev1', 'mobilenetv1')]
LINEAR_ENDED = ['mobilenetv2_cifar', 'mobilenetv2']
FEATURE_KEYS = {'stages', 'preact_stages', 'feat_map', 'pooled', 'logits'}


def _size(name):
    return 64 if name in IMAGENET_ARCHS else 32


def _input(name, batch=2):
    gen = torch.Generator().manual_seed(0)
    return torch.randn(batch, 3, _size(name), _size(name), generator=gen)


@pytest.fixture(scope='module', autouse=True)
def single_thread():
    """Tiny tensors gain nothing from intra-op threads, which only contend on a shared CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def zoo():
    """Build each architecture once (eval mode) and compute its features once."""
    cache = {}

    def get(name):
        if name not in cache:
            torch.manual_seed(0)
            model = build_arch(name).eval()
            with torch.no_grad():
                cache[name] = (model, model.forward_features(_input(name)))
        return cache[name]

    return get


def test_names():
    assert set(CIFAR_ARCHS) | set(IMAGENET_ARCHS) == set(ARCHS) == set(EXPECTED)
    assert not set(CIFAR_ARCHS) & set(IMAGENET_ARCHS)
    for cfg in ARCHS.values():
        assert MODELS.get(cfg['type']) is not None, cfg


@pytest.mark.parametrize('name', list(ARCHS))
def test_feature_contract(zoo, name):
    model, feats = zoo(name)
    channels, strides, feat_channels = EXPECTED[name]
    size = _size(name)
    num_classes = 1000 if name in IMAGENET_ARCHS else 100

    assert set(feats) == FEATURE_KEYS
    assert model.stage_channels == channels
    assert model.feat_channels == feat_channels
    assert len(feats['stages']) == len(feats['preact_stages']) == len(channels)
    for stage, preact, c, s in zip(feats['stages'], feats['preact_stages'], channels, strides):
        assert tuple(stage.shape) == (2, c, size // s, size // s)
        assert preact.shape == stage.shape
    if name not in ('resnet18', 'resnet34', 'resnet50', 'mobilenetv1'):  # stem ends in a ReLU
        assert feats['preact_stages'][0] is feats['stages'][0]

    feat_map = feats['feat_map']
    assert tuple(feat_map.shape) == (2, feat_channels, *feats['stages'][-1].shape[2:])
    h, w = feat_map.shape[2:]
    torch.testing.assert_close(feats['pooled'], feat_map.flatten(2).sum(-1) / (h * w))
    head = model.classifier
    assert (head.in_features, head.out_features) == (feat_channels, num_classes)
    expected_logits = feats['pooled'] @ head.weight.t() + head.bias
    assert tuple(feats['logits'].shape) == (2, num_classes)
    torch.testing.assert_close(feats['logits'], expected_logits, rtol=1e-4, atol=1e-5)
    with torch.no_grad():
        torch.testing.assert_close(head(feats['pooled']), feats['logits'])
        torch.testing.assert_close(model(_input(name)), feats['logits'])


@pytest.mark.parametrize('name', list(ARCHS))
def test_backbone_mode(zoo, name):
    model, feats = zoo(name)
    num_stages = len(EXPECTED[name][0]) - 1
    backbone = build_arch(name, out_indices=tuple(range(num_stages))).eval()
    backbone.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        outs = backbone(_input(name))
    assert isinstance(outs, tuple) and len(outs) == num_stages
    for out, stage in zip(outs, feats['stages'][1:]):
        torch.testing.assert_close(out, stage)

    backbone.out_indices = (num_stages - 1, 0)  # plain attribute: any order is returned as given
    with torch.no_grad():
        outs = backbone(_input(name))
    assert len(outs) == 2
    torch.testing.assert_close(outs[0], feats['stages'][-1])
    torch.testing.assert_close(outs[1], feats['stages'][1])


@pytest.mark.parametrize('name,head', [
    ('resnet8x4', ['fc.']), ('wrn16_2', ['bn1.', 'fc.']), ('shufflev1', ['linear.']),
    ('shufflev2', ['conv2.', 'bn2.', 'linear.']), ('mobilenetv2_cifar', ['conv2.', 'classifier.']),
    ('resnet18', ['fc.']), ('mobilenetv2', ['features.18.', 'classifier.']),
    ('mobilenetv1', ['fc.'])])
def test_backbone_mode_every_trainable_parameter_gets_a_gradient(name, head):
    """What DDP without find_unused_parameters needs: the unused head is frozen, nothing else."""
    torch.manual_seed(0)
    model = build_arch(name, out_indices=tuple(range(len(EXPECTED[name][0]) - 1))).train()
    sum(out.mean() for out in model(_input(name))).backward()
    for key, param in model.named_parameters():
        in_head = any(key.startswith(prefix) for prefix in head)
        assert param.requires_grad != in_head, key
        assert (param.grad is not None) == param.requires_grad, key


@pytest.mark.parametrize('name', list(PARAMS_M))
def test_parameter_count(zoo, name):
    model, _ = zoo(name)
    millions = sum(p.numel() for p in model.parameters()) / 1e6
    assert abs(millions - PARAMS_M[name]) <= 0.05 * PARAMS_M[name], millions


@pytest.mark.parametrize('name', RELU_ENDED)
def test_preact_relu_relation(zoo, name):
    _, feats = zoo(name)
    for i, (stage, preact) in enumerate(zip(feats['stages'], feats['preact_stages'])):
        torch.testing.assert_close(torch.clamp(preact, min=0), stage)
        if i > 0:  # a real pre-activation, not the activated output again
            assert (preact < 0).any()


@pytest.mark.parametrize('name', [n for n in RELU_ENDED if n != 'mobilenetv1'] + ['wrn40_2'])
def test_stages_equal_the_stage_modules_own_forward(zoo, name):
    """stage i == (stage module i)(stage i - 1), run through the blocks' ordinary forward."""
    model, feats = zoo(name)
    stages = feats['stages']
    if name.startswith('wrn'):
        modules = [model.block1, model.block2, model.block3]  # raw block outputs
    else:
        modules = [getattr(model, f'layer{i}') for i in range(1, len(stages))]
    if name in IMAGENET_ARCHS:  # the stem entry is taken before the max-pool
        modules[0] = torch.nn.Sequential(model.maxpool, modules[0])
    for module, inp, out in zip(modules, stages[:-1], stages[1:]):
        with torch.no_grad():
            torch.testing.assert_close(module(inp), out)


@pytest.mark.parametrize('name', LINEAR_ENDED)
def test_preact_linear_bottleneck(zoo, name):
    _, feats = zoo(name)
    for stage, preact in zip(feats['stages'][1:], feats['preact_stages'][1:]):
        assert torch.equal(stage, preact)
        assert (stage < 0).any()  # linear bottleneck: no ReLU at the end of a stage


def test_wrn_stages_raw_preacts_normalised():
    """Pre-activation WRN: stages are raw block outputs, preact_stages[3] = bn1(stages[3]) and
    the pooled map relu(bn1(stages[3])) (the BN written out by hand)."""
    torch.manual_seed(0)
    model = build_arch('wrn16_2')
    bn = model.bn1  # the final BN, given non-trivial statistics
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.uniform_(0.5, 2)
    bn.weight.data.uniform_(0.5, 2)
    bn.bias.data.uniform_(-1, 1)
    model.eval()
    with torch.no_grad():
        feats = model.forward_features(_input('wrn16_2'))
    stages, preacts = feats['stages'], feats['preact_stages']
    assert torch.equal(stages[0], preacts[0])
    raw = stages[3]
    assert (raw < 0).any()
    scale = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).view(1, -1, 1, 1)
    by_hand = (raw - bn.running_mean.view(1, -1, 1, 1)) * scale + bn.bias.view(1, -1, 1, 1)
    torch.testing.assert_close(preacts[3], by_hand)
    torch.testing.assert_close(feats['feat_map'], by_hand.clamp(min=0))


@pytest.mark.parametrize('name,factory', [('resnet18', 'resnet18'), ('resnet50', 'resnet50'),
                                          ('mobilenetv2', 'mobilenet_v2')])
def test_torchvision_weights_load_strictly_and_match(name, factory):
    torch.manual_seed(1)
    reference = getattr(torchvision.models, factory)(num_classes=1000).eval()
    model = build_arch(name).eval()
    assert list(model.state_dict()) == list(reference.state_dict())
    model.load_state_dict(reference.state_dict(), strict=True)
    x = _input(name)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=1e-4, atol=1e-5)


def test_pretrained_init_cfg_torchvision_file(tmp_path):
    torch.manual_seed(2)
    reference = torchvision.models.resnet18(num_classes=10)
    path = tmp_path / 'resnet18_tv.pth'
    torch.save(reference.state_dict(), path)
    model = build_arch('resnet18', num_classes=10,
                       init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    assert not torch.equal(model.conv1.weight, reference.conv1.weight)
    model.init_weights()
    for key, value in reference.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key


def test_pretrained_init_cfg_mmengine_checkpoint(tmp_path):
    torch.manual_seed(3)
    source = build_arch('wrn16_2')
    path = tmp_path / 'wrn.pth'
    torch.save({'state_dict': source.state_dict(), 'meta': {}}, path)
    model = build_arch('wrn16_2', init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key


@pytest.mark.parametrize('name', ['resnet8x4', 'wrn16_2', 'shufflev1', 'shufflev2',
                                  'mobilenetv2_cifar', 'resnet18', 'mobilenetv2'])
def test_train_mode_backward(name):
    """Gradients flow through every feature (no in-place op breaks autograd)."""
    torch.manual_seed(0)
    model = build_arch(name).train()
    feats = model.forward_features(_input(name))
    loss = sum(f.mean() for f in feats['stages'] + feats['preact_stages'])
    loss = loss + feats['logits'].logsumexp(1).mean()
    loss.backward()
    assert model.classifier.weight.grad is not None
    assert all(p.grad is not None for p in model.parameters())


def test_repdistiller_parameter_names():
    """The CIFAR models keep the public KD code's names, so its checkpoints load."""
    keys = set(build_arch('resnet8x4').state_dict())
    assert {'conv1.weight', 'layer1.0.downsample.0.weight', 'layer3.0.conv2.weight',
            'fc.weight'} <= keys
    assert 'layer1.0.downsample.0.weight' not in build_arch('resnet8').state_dict()
    keys = set(build_arch('wrn40_2').state_dict())
    assert {'block1.layer.0.convShortcut.weight', 'block3.layer.5.bn2.weight', 'bn1.weight',
            'fc.bias'} <= keys
    assert {'layer1.0.conv5.weight', 'layer3.3.bn3.weight', 'conv2.weight', 'linear.weight'} \
        <= set(build_arch('shufflev2').state_dict())
    assert {'layer2.7.conv3.weight', 'linear.bias'} <= set(build_arch('shufflev1').state_dict())
    assert {'conv1.0.weight', 'blocks.6.0.conv.7.weight', 'conv2.1.bias',
            'classifier.0.weight'} <= set(build_arch('mobilenetv2_cifar').state_dict())


def test_build_arch_overrides_and_errors():
    model = build_arch('resnet8', num_classes=10)
    assert tuple(model(_input('resnet8')).shape) == (2, 10)
    model = build_arch(dict(type='CifarMobileNetV2', stem_stride=1))
    assert model.forward_features(_input('resnet8'))['feat_map'].shape[-1] == 4
    with pytest.raises(ValueError, match='resnet8x4'):
        build_arch('resnet9')
    with pytest.raises(TypeError):
        build_arch(8)
    for bad in [(3,), (0, -1), 2, ()]:
        with pytest.raises(ValueError, match='out_indices'):
            build_arch('resnet8', out_indices=bad)
    with pytest.raises(ValueError, match='depth'):
        build_arch('resnet8', depth=9)
    with pytest.raises(ValueError, match='width'):
        build_arch('resnet8', width=2)
    with pytest.raises(ValueError, match='depth'):
        build_arch('wrn16_2', depth=15)
    with pytest.raises(ValueError, match='depth'):
        build_arch('resnet18', depth=20)
