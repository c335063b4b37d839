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

# Normalisation the student was trained with: its classification config's data_preprocessor
# (configs/_base_/cls/cifar100.py, CIFAR-100 statistics; RGB images). The transfer configs
# feed the backbone exactly this; tests/test_configs/test_transfer_configs.py compares it with
# the classification config, and loading a backbone whose provenance records another
# normalisation is refused (kd_transfer/guards.py).
student_norm = dict(mean=[129.304, 124.070, 112.434], std=[68.170, 65.392, 70.418],
                    channel_order='RGB')
# DeepLab (configs/transfer/seg/): no dilation, the stages at strides 1 / 2 / 4 of the 1/4-size
# input (16 of the original image: a 32 x 32 map on a 128 x 128 crop); heads as narrow as
# mmseg's R-18 recipe (deeplabv3plus_r18-d8: channels 128, c1_channels 12, aux channels 64).
seg_backbone = dict()
seg_backbone_strides = [1, 2, 4]
seg_heads = dict(channels=128, c1_channels=12, aux_channels=64)

# ---- derived, read by the transfer configs: input_downscale (inputs shrunk so that the finest
# output sits at stride 4 of the image), fpn_strides, seg_out_stride and aspp_dilations (DeepLab's
# rate x output stride rule); the rules: kd_transfer/transfer_glue.py student_numbers.
from kd_transfer.transfer_glue import student_numbers  # noqa: E402
globals().update(student_numbers(backbone_strides, seg_backbone_strides))
