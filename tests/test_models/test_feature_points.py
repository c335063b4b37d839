"""Which tensor each feature entry is, per architecture, against the public KD code.

For every architecture the expected ``stages`` / ``preact_stages`` / ``feat_map`` are computed
here, independently of kd_transfer's feature extraction, by re-running the model's own layers
the way the public reference implementation's ``forward`` does:

* CIFAR models: RepDistiller ``models/*.py`` ``forward(x, is_feat=True, preact=...)``, identical
  in the official ReviewKD CIFAR code (``CIFAR-100/model/*.py``) and in mdistiller
  (``mdistiller/models/cifar/*.py``: ``feats`` / ``preact_feats``);
* ImageNet ResNets: mdistiller ``mdistiller/models/imagenet/resnet.py`` (``feats`` /
  ``preact_feats``; the official ReviewKD ImageNet code returns the same pre-ReLU layer outputs);
* MobileNet V1: the official ReviewKD ``ImageNet/models/mobilenet.py`` ``extract_feature`` =
  mdistiller ``mdistiller/models/imagenet/mobilenetv1.py``;
* torchvision MobileNetV2 (the suite's own pair, no public KD reference): forward hooks on the
  ``features`` entries where the resolution changes.

Every BatchNorm gets random statistics and affine parameters, so a BN applied or skipped
changes the tensor.
"""
import pytest
import torch
import torch.nn.functional as F
import torchvision

from kd_transfer.models import ARCHS, build_arch


def _randomise_bn(model):
    gen = torch.Generator().manual_seed(123)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.rand(c, generator=gen) * 2 - 1)
            m.running_var.copy_(torch.rand(c, generator=gen) * 1.5 + 0.5)
            m.weight.data.copy_(torch.rand(c, generator=gen) * 1.5 + 0.5)
            m.bias.data.copy_(torch.rand(c, generator=gen) * 2 - 1)
    return model


def _model_and_input(name, size):
    torch.manual_seed(0)
    model = _randomise_bn(build_arch(name)).eval()
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    return model, x


def _shuffle(x, groups):
    """The public code's ShuffleBlock."""
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).permute(0, 2, 1, 3, 4).reshape(n, c, h, w)


def _check(model, x, stages, preacts, feat_map):
    with torch.no_grad():
        feats = model.forward_features(x)
    assert len(feats['stages']) == len(stages) and len(feats['preact_stages']) == len(preacts)
    for i, (got, want) in enumerate(zip(feats['stages'], stages)):
        torch.testing.assert_close(got, want, msg=f'stages[{i}]')
    for i, (got, want) in enumerate(zip(feats['preact_stages'], preacts)):
        torch.testing.assert_close(got, want, msg=f'preact_stages[{i}]')
    torch.testing.assert_close(feats['feat_map'], feat_map)
    torch.testing.assert_close(feats['pooled'], feat_map.mean(dim=(2, 3)))
    return feats


# ------------------------------------------------------------------------ CIFAR ResNet
def _ref_basic_block(b, x):
    """RepDistiller BasicBlock.forward -> (out, preact)."""
    out = F.relu(b.bn1(b.conv1(x)))
    out = b.bn2(b.conv2(out))
    residual = x if b.downsample is None else b.downsample(x)
    preact = out + residual
    return F.relu(preact), preact


@pytest.mark.parametrize('name', ['resnet8', 'resnet20', 'resnet8x4'])
def test_cifar_resnet(name):
    model, x = _model_and_input(name, 32)
    with torch.no_grad():
        f = F.relu(model.bn1(model.conv1(x)))
        stages, preacts = [f], [f]
        for layer in (model.layer1, model.layer2, model.layer3):
            for block in layer:
                f, pre = _ref_basic_block(block, f)
            stages.append(f)
            preacts.append(pre)
    _check(model, x, stages, preacts, stages[-1])


# ------------------------------------------------------------------------------- WRN
def _ref_wrn_block(b, x):
    """RepDistiller / ReviewKD / mdistiller wrn BasicBlock.forward (equalInOut = in == out)."""
    equal = b.conv1.in_channels == b.conv2.out_channels
    if not equal:
        x = F.relu(b.bn1(x))
        out = b.conv1(x)
    else:
        out = b.conv1(F.relu(b.bn1(x)))
    out = b.conv2(F.relu(b.bn2(out)))
    return (x if equal else b.convShortcut(x)) + out


@pytest.mark.parametrize('name', ['wrn16_2', 'wrn40_1'])
def test_wrn(name):
    """stages = [f0, f1, f2, f3] (raw block outputs: what AT / FitNets / the ReviewKD student
    read); preact_stages = [f0, block2.layer[0].bn1(f1), block3.layer[0].bn1(f2), bn1(f3)]
    (what the ReviewKD teacher reads); pooled map = relu(bn1(f3))."""
    model, x = _model_and_input(name, 32)
    with torch.no_grad():
        f0 = model.conv1(x)
        outs = [f0]
        for stage in (model.block1, model.block2, model.block3):
            f = outs[-1]
            for block in stage.layer:
                f = _ref_wrn_block(block, f)
            outs.append(f)
        f1, f2, f3 = outs[1:]
        preacts = [f0, model.block2.layer[0].bn1(f1), model.block3.layer[0].bn1(f2),
                   model.bn1(f3)]
        feat_map = F.relu(model.bn1(f3))
    feats = _check(model, x, outs, preacts, feat_map)
    with torch.no_grad():  # the pooled vector / logits are the public forward's output
        torch.testing.assert_close(feats['logits'], model.fc(feat_map.mean(dim=(2, 3))))
    assert (feats['stages'][3] < 0).any()  # raw residual sum, not an activated map


def test_wrn_training_pass_runs_each_bn_once():
    """Computing the pre-activation features must not update a BN's running statistics twice:
    the model's BN buffers after one training step equal those of the plain public forward."""
    torch.manual_seed(0)
    model = build_arch('wrn16_2').train()
    reference = build_arch('wrn16_2').train()
    reference.load_state_dict(model.state_dict())
    x = torch.randn(4, 3, 32, 32)
    model.forward_features(x)
    with torch.no_grad():
        f = reference.conv1(x)
        for stage in (reference.block1, reference.block2, reference.block3):
            for block in stage.layer:
                f = _ref_wrn_block(block, f)
        reference.bn1(f)
    for (key, got), want in zip(model.state_dict().items(), reference.state_dict().values()):
        torch.testing.assert_close(got, want, msg=key)


# ------------------------------------------------------------------------ ShuffleNets
def test_shufflenetv1():
    model, x = _model_and_input('shufflev1', 32)

    def block(b, t):  # RepDistiller ShuffleNetv1 Bottleneck.forward -> (out, preact)
        g = 1 if b.conv1.in_channels == 24 else 3
        out = F.relu(b.bn1(b.conv1(t)))
        out = _shuffle(out, g)
        out = F.relu(b.bn2(b.conv2(out)))
        out = b.bn3(b.conv3(out))
        if b.stride == 2:
            preact = torch.cat([out, F.avg_pool2d(t, 3, stride=2, padding=1)], 1)
        else:
            preact = out + t
        return F.relu(preact), preact

    with torch.no_grad():
        f = F.relu(model.bn1(model.conv1(x)))
        stages, preacts = [f], [f]
        for layer in (model.layer1, model.layer2, model.layer3):
            for b in layer:
                f, pre = block(b, f)
            stages.append(f)
            preacts.append(pre)
    _check(model, x, stages, preacts, stages[-1])


def test_shufflenetv2():
    """preact = cat([x1, bn3(...)]) before the channel shuffle, as the public BasicBlock."""
    model, x = _model_and_input('shufflev2', 32)

    def down(b, t):
        out1 = F.relu(b.bn2(b.conv2(b.bn1(b.conv1(t)))))
        out2 = F.relu(b.bn3(b.conv3(t)))
        out2 = F.relu(b.bn5(b.conv5(b.bn4(b.conv4(out2)))))
        return _shuffle(torch.cat([out1, out2], 1), 2)

    def basic(b, t):
        c = int(t.size(1) * 0.5)
        x1, x2 = t[:, :c], t[:, c:]
        out = F.relu(b.bn1(b.conv1(x2)))
        out = b.bn2(b.conv2(out))
        pre = b.bn3(b.conv3(out))
        preact = torch.cat([x1, pre], 1)
        return _shuffle(torch.cat([x1, F.relu(pre)], 1), 2), preact

    with torch.no_grad():
        f = F.relu(model.bn1(model.conv1(x)))
        stages, preacts = [f], [f]
        for layer in (model.layer1, model.layer2, model.layer3):
            f = down(layer[0], f)
            for b in list(layer)[1:]:
                f, pre = basic(b, f)
            stages.append(f)
            preacts.append(pre)
        feat_map = F.relu(model.bn2(model.conv2(f)))
    _check(model, x, stages, preacts, feat_map)


# ------------------------------------------------------------------ CIFAR MobileNetV2
def test_cifar_mobilenetv2():
    """RepDistiller / mdistiller mobile_half: f0 = conv1, f1 after blocks[1], f2 after
    blocks[2], f3 after blocks[4], f4 after blocks[6]; no preact variant (= feats)."""
    model, x = _model_and_input('mobilenetv2_cifar', 32)

    def inverted(b, t):
        return t + b.conv(t) if b.use_res_connect else b.conv(t)

    with torch.no_grad():
        out = model.conv1(x)
        feats = [out]
        for i, group in enumerate(model.blocks):
            for b in group:
                out = inverted(b, out)
            if i in (1, 2, 4, 6):
                feats.append(out)
        feat_map = model.conv2(out)
    _check(model, x, feats, feats, feat_map)


# ----------------------------------------------------------------- ImageNet ResNets
@pytest.mark.parametrize('name', ['resnet18', 'resnet50'])
def test_tv_resnet(name):
    """mdistiller ImageNet ResNet: feats = relu([stem, feat1..feat4]), preact_feats = [stem,
    feat1..feat4] with stem = bn1(conv1(x)) before the max-pool and feat_i the layer output
    without the last block's final ReLU."""
    model, x = _model_and_input(name, 64)
    last = []
    hooks = [getattr(model, f'layer{i}')[-1].register_forward_hook(
        lambda m, inp, out: last.append(inp[0])) for i in range(1, 5)]
    with torch.no_grad():  # torchvision's own forward records each layer's last-block input
        torchvision.models.ResNet._forward_impl(model, x)
    assert len(last) == 4
    for h in hooks:
        h.remove()

    def preact_of(b, t):  # torchvision block without its final ReLU
        identity = t if b.downsample is None else b.downsample(t)
        out = F.relu(b.bn1(b.conv1(t)))
        if hasattr(b, 'conv3'):
            out = F.relu(b.bn2(b.conv2(out)))
            return b.bn3(b.conv3(out)) + identity
        return b.bn2(b.conv2(out)) + identity

    with torch.no_grad():
        stem = model.bn1(model.conv1(x))
        preacts = [stem] + [preact_of(getattr(model, f'layer{i}')[-1], t)
                            for i, t in zip(range(1, 5), last)]
    stages = [F.relu(p) for p in preacts]
    _check(model, x, stages, preacts, stages[-1])


# ------------------------------------------------------------------------ MobileNets
def test_mobilenetv1():
    """Official ReviewKD MobileNet.extract_feature = mdistiller MobileNetV1.forward."""
    model, x = _model_and_input('mobilenetv1', 64)
    m = model.model
    with torch.no_grad():
        feat1 = m[3][:-1](m[0:3](x))
        feat2 = m[5][:-1](m[4:5](F.relu(feat1)))
        feat3 = m[11][:-1](m[6:11](F.relu(feat2)))
        feat4 = m[13][:-1](m[12:13](F.relu(feat3)))
        stem_pre = m[1][:-1](m[0](x))  # the suite's stem entry (no public counterpart)
    preacts = [stem_pre, feat1, feat2, feat3, feat4]
    stages = [F.relu(p) for p in preacts]
    feats = _check(model, x, stages, preacts, stages[-1])
    with torch.no_grad():
        torch.testing.assert_close(feats['logits'], model.fc(F.relu(feat4).mean(dim=(2, 3))))


def test_tv_mobilenetv2():
    """The suite's own points for torchvision's MobileNetV2: outputs of features[1], [3],
    [6], [13], [17] (strides 2 .. 32), feat_map = features[18]; no preact variant."""
    model, x = _model_and_input('mobilenetv2', 64)
    got = {}
    hooks = [model.features[i].register_forward_hook(
        lambda mod, inp, out, i=i: got.__setitem__(i, out)) for i in (1, 3, 6, 13, 17, 18)]
    with torch.no_grad():
        model.features(x)
    for h in hooks:
        h.remove()
    stages = [got[i] for i in (1, 3, 6, 13, 17)]
    _check(model, x, stages, stages, got[18])


def test_every_architecture_is_pinned():
    pinned = {'resnet8', 'resnet20', 'resnet8x4', 'wrn16_2', 'wrn40_1', 'shufflev1',
              'shufflev2', 'mobilenetv2_cifar', 'resnet18', 'resnet50', 'mobilenetv1',
              'mobilenetv2'}
    types = {ARCHS[n]['type'] for n in pinned}
    assert types == {cfg['type'] for cfg in ARCHS.values()}
