# Student backbone "mobilenetv2" (ImageNet MobileNetV2, torchvision layout: kd_transfer arch
# TVMobileNetV2) for the transfer configs in configs/transfer/, used directly as the backbone
# (registered in mmengine's root MODELS, so the mmdet / mmseg scopes find it).
# Outputs: the four stages at strides 4 / 8 / 16 / 32 (24, 32, 96, 320 channels, the layers of
# mmdet's MobileNetV2 out_indices (1, 2, 4, 7)); dilated for DeepLab (below).
# The checkpoint below is a placeholder: set it with
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
_base_ = ['../guards.py']  # FiniteLossHook in every transfer config
student_arch = 'mobilenetv2'
backbone = dict(
    _delete_=True,  # replace the upstream ResNet config instead of merging into it
    type='TVMobileNetV2',
    out_indices=(0, 1, 2, 3),
    init_cfg=dict(type='Pretrained', checkpoint='work_dirs/backbones/mobilenetv2.pth'))
# tests/test_configs/test_transfer_configs.py checks these against the built backbone.
backbone_channels = [24, 32, 96, 320]
backbone_strides = [4, 8, 16, 32]

# Normalisation the student was trained with: its classification config's data_preprocessor
# (configs/_base_/cls/imagenet.py, torchvision's ImageNet statistics; RGB images), which is
# also mmdet's / mmseg's default. The transfer configs feed the backbone exactly this;
# tests/test_configs/test_transfer_configs.py compares it with the classification config, and
# loading a backbone whose provenance records another normalisation is refused.
student_norm = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                    channel_order='RGB')
# DeepLab (configs/transfer/seg/): dilated to output stride 8 as mmseg's mobilenet-v2-d8
# recipes (MobileNetV2 strides (1, 2, 2, 1, 1, 1, 1), dilations (1, 1, 1, 2, 2, 4, 4): the
# first block of each layer; same weights). Head widths as those recipes, which keep the
# heads: channels 512, c1_channels 48, aux channels 256.
seg_backbone = dict(strides=(1, 2, 2, 1, 1, 1, 1), dilations=(1, 1, 1, 2, 2, 4, 4))
seg_backbone_strides = [4, 8, 8, 8]
seg_heads = dict(channels=512, c1_channels=48, aux_channels=256)

# ---- derived, read by the transfer configs: input_downscale (inputs shrunk so that the finest
# output sits at stride 4 of the image), fpn_strides, seg_out_stride and aspp_dilations (DeepLab's
# rate x output stride rule); the rules: kd_transfer/transfer_glue.py student_numbers.
from kd_transfer.transfer_glue import student_numbers  # noqa: E402
globals().update(student_numbers(backbone_strides, seg_backbone_strides))
