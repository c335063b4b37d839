# Student backbone "resnet18" (ImageNet ResNet-18, kd_transfer arch TVResNet depth 18) for the
# transfer configs in configs/transfer/. tools/export_backbone.py writes it with torchvision's
# keys, which are those of mmdet's and mmseg's `ResNet` (pytorch style, plain 7x7 stem: mmseg's
# "R-18b"), so the upstream ResNet is built here and the upstream configs' ResNet options
# (frozen_stages / norm_eval for mmdet, d8 dilations for mmseg) merge into it.
# The checkpoint below is a placeholder: set it with
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
_base_ = ['../guards.py']  # FiniteLossHook in every transfer config
student_arch = 'resnet18'
backbone = dict(
    type='ResNet',
    depth=18,
    out_indices=(0, 1, 2, 3),
    style='pytorch',
    init_cfg=dict(type='Pretrained', checkpoint='work_dirs/backbones/resnet18.pth'))
# Channels and strides of the outputs above (layer1..layer4, strides without dilation);
# tests/test_configs/test_transfer_configs.py checks them against the built backbone.
backbone_channels = [64, 128, 256, 512]
backbone_strides = [4, 8, 16, 32]

# Normalisation the student was trained with: its classification config's data_preprocessor
# (configs/_base_/cls/imagenet.py, torchvision's ImageNet statistics; RGB images), which is
# also mmdet's / mmseg's default. The transfer configs feed the backbone exactly this;
# tests/test_configs/test_transfer_configs.py compares it with the classification config, and
# loading a backbone whose provenance records another normalisation is refused.
student_norm = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                    channel_order='RGB')
# DeepLab (configs/transfer/seg/): mmseg's d8 ResNet (strides (1, 2, 1, 1), dilations
# (1, 1, 2, 4), as upstream's r50-d8 base: output stride 8) with the head widths of mmseg's
# R-18 recipes (deeplabv3plus_r18b-d8 / deeplabv3_r18b-d8: channels 128, c1_channels 12,
# aux channels 64).
seg_backbone = dict(strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4))
seg_backbone_strides = [4, 8, 8, 8]
seg_heads = dict(channels=128, c1_channels=12, aux_channels=64)

# ---- derived, read by the transfer configs: input_downscale (inputs shrunk so that the finest
# output sits at stride 4 of the image), fpn_strides, seg_out_stride and aspp_dilations (DeepLab's
# rate x output stride rule); the rules: kd_transfer/transfer_glue.py student_numbers.
from kd_transfer.transfer_glue import student_numbers  # noqa: E402
globals().update(student_numbers(backbone_strides, seg_backbone_strides))
