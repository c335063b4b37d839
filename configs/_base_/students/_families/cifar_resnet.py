# The CIFAR ResNets (kd_transfer arch CifarResNet) as transfer students, shared by
# configs/_base_/students/resnet20.py, resnet56.py and resnet8x4.py, which add their depth / width,
# checkpoint placeholder and channels. The three stages sit at strides 1 / 2 / 4; the CIFAR stem
# does not downsample, so the transfer configs feed 1/4-size images (input_downscale = 4).
_base_ = ['../../guards.py']  # FiniteLossHook in every transfer config
backbone = dict(
    _delete_=True,  # replace the upstream ResNet config instead of merging into it
    type='CifarResNet',
    out_indices=(0, 1, 2))
# tests/test_configs/test_transfer_configs.py checks these against the built backbone.
backbone_strides = [1, 2, 4]

# Normalisation the student was trained with: its classification config's data_preprocessor
# (configs/_base_/cls/cifar100.py, CIFAR-100 statistics; RGB images). The transfer configs
# feed the backbone exactly this; tests/test_configs/test_transfer_configs.py compares it with
# the classification config, and loading a backbone whose provenance records another
# normalisation is refused (kd_transfer/pretrained_init.py).
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
