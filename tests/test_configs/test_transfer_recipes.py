"""Transfer configs measure the student as it was trained and follow mmseg's recipe per backbone.

* normalisation: every det / seg transfer config feeds its backbone the mean / std / channel
  order of the student's own classification config (configs/distill/*/baseline_<arch>.py);
* DeepLab: the final feature map, the ASPP rates and the head widths of each student, against
  numbers derived here by hand from mmseg's recipes (r18-d8: heads 128 / c1 12 / aux 64;
  mobilenet-v2-d8: strides (1, 2, 2, 1, 1, 1, 1), dilations (1, 1, 1, 2, 2, 4, 4), heads 512 /
  48 / 256; ASPP (12, 24, 36) at output stride 8, DeepLab's rate x stride = constant rule);
* the dilated MobileNetV2 computes what mmseg's own d8 MobileNetV2 computes with the same
  weights;
* ReviewKD's segmentation student is the transfer runs' plain-stem ResNet-18.
"""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted(str(p.relative_to(REPO)) for task in ('det', 'seg')
                 for p in (REPO / 'configs' / 'transfer' / task).glob('*.py'))
STUDENTS = sorted(p.stem for p in (REPO / 'configs' / '_base_' / 'students').glob('*.py'))
SEG_CONFIGS = [c for c in CONFIGS if '/seg/' in c]


def student_of(rel: str) -> str:
    return next(s for s in STUDENTS if f'_{s}_' in Path(rel).name)


def load(rel: str) -> Config:
    return Config.fromfile(str(REPO / rel))


def build(cfg_model, scope: str):
    from mmengine.registry import MODELS
    with DefaultScope.overwrite_default_scope(scope):
        return MODELS.build(cfg_model)


def cls_config_of(arch: str) -> Path:
    """The student's own classification (baseline) config."""
    found = sorted((REPO / 'configs' / 'distill').glob(f'*/baseline_{arch}.py'))
    assert len(found) == 1, (arch, found)
    return found[0]


# ----------------------------------------------------------------------- normalisation
@pytest.mark.parametrize('rel', CONFIGS)
def test_transfer_preprocessor_is_the_students_classification_preprocessor(rel):
    cls_pre = Config.fromfile(str(cls_config_of(student_of(rel)))).model.data_preprocessor
    pre = load(rel).model.data_preprocessor
    assert list(pre.mean) == list(cls_pre.mean)
    assert list(pre.std) == list(cls_pre.std)
    # channel order seen by the network: the classification datasets give RGB images and the
    # classifier does not swap; mmdet / mmseg load BGR (mmcv) and must swap back to RGB.
    assert not cls_pre.get('bgr_to_rgb', False) and not cls_pre.get('rgb_to_bgr', False)
    assert pre.bgr_to_rgb is True and not pre.get('rgb_to_bgr', False)


def test_cifar_students_are_not_fed_imagenet_statistics():
    pre = load('configs/transfer/det/faster-rcnn_resnet8x4_fpn_voc07.py').model.data_preprocessor
    # CIFAR-100 train-set statistics x 255 (0.50707516, 0.48654887, 0.44091784) /
    # (0.26733429, 0.25643846, 0.27615047), rounded to 3 decimals
    assert pre.mean == pytest.approx([129.304, 124.070, 112.434], abs=1e-3)
    assert pre.std == pytest.approx([68.170, 65.392, 70.418], abs=1e-3)


# ---------------------------------------------------------------------------- DeepLab
#: per student, derived by hand from the recipes (see the module docstring):
#: (output stride on the network input, input_downscale, ASPP rates, channels, c1, aux)
EXPECTED_SEG = {
    'resnet18': (8, 1, (1, 12, 24, 36), 128, 12, 64),
    'mobilenetv2': (8, 1, (1, 12, 24, 36), 512, 48, 256),
    # CIFAR: stem stride 1, stages 1 / 2 / 4, no dilation, 1/4-size input -> stride 16 of the
    # image, a 32 x 32 map on the 128 x 128 crop: DeepLab's OS-16 rates (6, 12, 18)
    'resnet8x4': (4, 4, (1, 6, 12, 18), 128, 12, 64),
    'resnet20': (4, 4, (1, 6, 12, 18), 128, 12, 64),
    'resnet56': (4, 4, (1, 6, 12, 18), 128, 12, 64),
}


def _conv_dilations(module) -> set:
    return {m.dilation[0] for m in module.modules() if isinstance(m, torch.nn.Conv2d)
            and m.kernel_size[0] == 3}


@pytest.mark.parametrize('rel', SEG_CONFIGS)
def test_deeplab_geometry_and_heads(rel):
    student = student_of(rel)
    stride, down, rates, channels, c1, aux = EXPECTED_SEG[student]
    cfg = load(rel)
    assert cfg.crop_size == (512 // down, 512 // down)
    assert tuple(cfg.model.decode_head.dilations) == rates
    model_cfg = cfg.model.copy()
    model_cfg.backbone.init_cfg = None
    model = build(model_cfg, 'mmseg')
    head = model.decode_head
    assert head.channels == channels and model.auxiliary_head.channels == aux
    # the rates the ASPP convolutions really use (the 1x1 branch has none)
    assert _conv_dilations(head.aspp_modules) == set(rates[1:])
    if 'deeplabv3plus' in rel:
        assert head.c1_bottleneck.conv.out_channels == c1
    # the final map: 128 / 8 = 16 (x 17) for the d8 students, 128 / 4 = 32 on CIFAR's real crop
    model.eval()
    h, w = cfg.crop_size
    if down == 1:  # ImageNet students: a smaller input (same stride), for a fast test
        h, w = h // 4, w // 4 + 8
    with torch.no_grad():
        outs = model.backbone(torch.randn(1, 3, h, w))
    assert tuple(outs[-1].shape[2:]) == (h // stride, w // stride)
    assert tuple(outs[head.in_index].shape[2:]) == (h // stride, w // stride)
    assert outs[-1].shape[1] == head.in_channels
    # every ASPP rate fits the map of the real crop (no branch degenerates to a 1x1 conv)
    assert max(rates) < cfg.crop_size[0] // stride


def test_mobilenetv2_d8_equals_mmseg_mobilenetv2_d8():
    """Same weights, same outputs as mmseg's MobileNetV2(strides, dilations) of its d8 recipe."""
    import mmseg.models  # noqa: F401
    from mmseg.registry import MODELS as SEG_MODELS
    from kd_transfer.models import build_arch
    ours = build_arch('mobilenetv2', out_indices=(0, 1, 2, 3), strides=(1, 2, 2, 1, 1, 1, 1),
                      dilations=(1, 1, 1, 2, 2, 4, 4)).eval()
    with DefaultScope.overwrite_default_scope('mmseg'):  # whatever scope an earlier test left
        ref = SEG_MODELS.build(dict(type='MobileNetV2', strides=(1, 2, 2, 1, 1, 1, 1),
                                    dilations=(1, 1, 1, 2, 2, 4, 4), out_indices=(1, 2, 4, 6)))
    ref.eval()  # (mmseg's MobileNetV2.train() returns None)
    ours_sd = [(k, v) for k, v in ours.state_dict().items()
               if not k.startswith(('features.18.', 'classifier.'))]
    ref_sd = list(ref.state_dict().items())
    assert [tuple(v.shape) for _, v in ours_sd] == [tuple(v.shape) for _, v in ref_sd]
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for (_, a), (_, b) in zip(ours_sd, ref_sd):
            if a.is_floating_point():
                a.copy_(torch.rand(a.shape, generator=gen) * 0.5 + 0.25)
            b.copy_(a)
        x = torch.randn(1, 3, 96, 128, generator=gen)
        got, want = ours(x), ref(x)
    assert [tuple(o.shape) for o in got] == [(1, 24, 24, 32), (1, 32, 12, 16), (1, 96, 12, 16),
                                             (1, 320, 12, 16)]
    for g, r in zip(got, want):
        torch.testing.assert_close(g, r, rtol=1e-4, atol=1e-4)


def test_mobilenetv2_undilated_is_unchanged():
    from kd_transfer.models import build_arch
    plain = build_arch('mobilenetv2', out_indices=(0, 1, 2, 3)).eval()
    default = build_arch('mobilenetv2', out_indices=(0, 1, 2, 3), strides=(1, 2, 2, 2, 1, 2, 1),
                         dilations=(1, ) * 7).eval()
    default.load_state_dict(plain.state_dict())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(plain(x), default(x)):
            assert torch.equal(a, b)
    assert [tuple(o.shape[2:]) for o in plain(x)] == [(16, 16), (8, 8), (4, 4), (2, 2)]
    with pytest.raises(ValueError, match='one entry per layer'):
        build_arch('mobilenetv2', strides=(1, 2, 2))


# ---------------------------------------------------------------------------- ReviewKD
def test_reviewkd_seg_student_is_the_transfer_resnet18():
    import torchvision
    rkd = Config.fromfile(str(REPO / 'configs/reviewkd/'
                              'deeplabv3plus_r101-r18-d8_4xb4-20k_voc12aug-512x512.py'))
    transfer = load('configs/transfer/seg/deeplabv3plus_resnet18_voc12aug.py')
    for cfg in (rkd, transfer):
        cfg.model.pretrained = None
        cfg.model.backbone.init_cfg = None
    a = build(rkd.model, 'mmseg').backbone
    b = build(transfer.model, 'mmseg').backbone
    assert type(a).__name__ == 'ResNet' and not a.deep_stem  # not ResNetV1c
    assert a.conv1.kernel_size == (7, 7)
    tv = {k for k in torchvision.models.resnet18().state_dict()
          if not k.startswith('fc.') and not k.endswith('num_batches_tracked')}
    own = {k for k in a.state_dict() if not k.endswith('num_batches_tracked')}
    assert own == tv
    assert list(a.strides) == list(b.strides) == [1, 2, 1, 1]
    assert list(a.dilations) == list(b.dilations) == [1, 1, 2, 4]
    # head widths of mmseg's r18(b)-d8 recipe, as the transfer config
    for cfg in (rkd, transfer):
        assert (cfg.model.decode_head.channels, cfg.model.decode_head.c1_channels,
                cfg.model.auxiliary_head.channels) == (128, 12, 64)


def test_reviewkd_detection_configs_state_their_teacher_and_offer_the_3x_one():
    for name in ('faster-rcnn_r101-r18_fpn_1x_coco.py', 'faster-rcnn_r101-r50_fpn_1x_coco.py'):
        header = (REPO / 'configs/reviewkd' / name).read_text().split('\n_base_')[0]
        assert 'detectron2' in header and '3x' in header and 'multi-scale' in header
        assert 'faster-rcnn_r101-ms3x-r18_fpn_1x_coco.py' in header
    option = Config.fromfile(str(REPO / 'configs/reviewkd/faster-rcnn_r101-ms3x-r18_fpn_1x_coco.py'))
    hook = option.custom_hooks[0]
    assert hook.type == 'ReviewKDHook' and hook.loss_weight == 1.2
    assert hook.teacher_config == 'mmdet::faster_rcnn/faster-rcnn_r101_fpn_ms-3x_coco.py'
    import mmdet
    teacher = Config.fromfile(str(Path(mmdet.__file__).parent / '.mim' / 'configs' /
                                  hook.teacher_config.split('::')[1]))
    # the teacher recipe really is 3x multi-scale: 12 epochs over the data repeated 3 times,
    # shorter side drawn from 640-800
    assert teacher.train_cfg.max_epochs * teacher.train_dataloader.dataset.times == 36
    resize = next(t for t in teacher.train_dataloader.dataset.dataset.pipeline
                  if t.type == 'RandomResize')
    assert sorted(min(s) for s in resize.scale) == [640, 800]
    assert teacher.model.backbone.depth == 101
    # the student is the 1x R-18 config's
    base = Config.fromfile(str(REPO / 'configs/reviewkd/faster-rcnn_r101-r18_fpn_1x_coco.py'))
    assert option.model == base.model and option.train_cfg == base.train_cfg
