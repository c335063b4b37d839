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

# ---- derived, read by the transfer configs (same lines in every student file) ----
# Inputs are shrunk so that the finest output sits at stride 4 of the original image
# (1 for ImageNet students; CIFAR students, whose stem does not downsample, see 1/4 images).
input_downscale = max(1, 4 // backbone_strides[0])
# FPN outputs: the backbone levels, then max-pooled extra levels up to five in total.
fpn_strides = backbone_strides + [backbone_strides[-1] * 2**i
                                  for i in range(1, 6 - len(backbone_strides))]
