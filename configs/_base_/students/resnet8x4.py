# Student backbone "resnet8x4" (CIFAR ResNet-8 at 4x width, kd_transfer arch CifarResNet) for
# the transfer configs in configs/transfer/, used directly as the backbone (registered in
# mmengine's root MODELS, so the mmdet / mmseg scopes find it).
# Outputs: the three stages at strides 1 / 2 / 4 (64, 128, 256 channels). The CIFAR stem does
# not downsample, so the transfer configs feed 1/4-size images (input_downscale = 4): the
# feature maps then have the sizes an ImageNet student's have at strides 4 / 8 / 16, and boxes /
# masks are still evaluated at the original resolution.
# The checkpoint below is a placeholder: set it with
#   --cfg-options model.backbone.init_cfg.checkpoint=PATH
_base_ = ['./_families/cifar_resnet.py']  # strides, normalisation, DeepLab settings
student_arch = 'resnet8x4'
backbone = dict(depth=8, width=4,
                init_cfg=dict(type='Pretrained', checkpoint='work_dirs/backbones/resnet8x4.pth'))
backbone_channels = [64, 128, 256]  # checked against the built backbone by the transfer tests
