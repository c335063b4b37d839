# Student backbone "resnet8x4" (CIFAR ResNet-8 at 4x width, kd_transfer arch CifarResNet) for
# the transfer configs in configs/transfer/, used directly as the backbone (registered in
# mmengine's root MODELS, so the mmdet / mmseg scopes find it).
# Outputs: the three stages at strides 1 / 2 / 4 (64, 128, 256 channels). The CIFAR stem does
# not downsample, so the transfer configs feed 1/4-size images (input_downscale = 4): the
# feature maps then have the sizes an ImageNet student's have at strides 4 / 8 / 16, and boxes /
# masks are still evaluated at the original resolution.
# The checkpoint below is a placeholder: set it with
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
_base_ = ['../guards.py']  # FiniteLossHook in every transfer config
student_arch = 'resnet8x4'
backbone = dict(
    _delete_=True,  # replace the upstream ResNet config instead of merging into it
    type='CifarResNet',
    depth=8,
    width=4,
    out_indices=(0, 1, 2),
    init_cfg=dict(type='Pretrained', checkpoint='work_dirs/backbones/resnet8x4.pth'))
# tests/test_configs/test_transfer_configs.py checks these against the built backbone.
backbone_channels = [64, 128, 256]
backbone_strides = [1, 2, 4]

# ---- derived, read by the transfer configs (same lines in every student file) ----
# Inputs are shrunk so that the finest output sits at stride 4 of the original image
# (1 for ImageNet students; CIFAR students, whose stem does not downsample, see 1/4 images).
input_downscale = max(1, 4 // backbone_strides[0])
# FPN outputs: the backbone levels, then max-pooled extra levels up to five in total.
fpn_strides = backbone_strides + [backbone_strides[-1] * 2**i
                                  for i in range(1, 6 - len(backbone_strides))]
