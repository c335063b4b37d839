# Student backbone "mobilenetv2" (ImageNet MobileNetV2, torchvision layout: kd_transfer arch
# TVMobileNetV2) for the transfer configs in configs/transfer/, used directly as the backbone
# (registered in mmengine's root MODELS, so the mmdet / mmseg scopes find it).
# Outputs: the four stages at strides 4 / 8 / 16 / 32 (24, 32, 96, 320 channels, the layers of
# mmdet's MobileNetV2 out_indices (1, 2, 4, 7)); no dilation, so DeepLab runs at output stride 32.
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

# ---- derived, read by the transfer configs (same lines in every student file) ----
# Inputs are shrunk so that the finest output sits at stride 4 of the original image
# (1 for ImageNet students; CIFAR students, whose stem does not downsample, see 1/4 images).
input_downscale = max(1, 4 // backbone_strides[0])
# FPN outputs: the backbone levels, then max-pooled extra levels up to five in total.
fpn_strides = backbone_strides + [backbone_strides[-1] * 2**i
                                  for i in range(1, 6 - len(backbone_strides))]
