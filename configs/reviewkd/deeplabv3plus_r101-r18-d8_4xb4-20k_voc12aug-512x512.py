# ReviewKD: DeepLabV3+ R-101-D8 teacher -> R-18-D8 student, Pascal VOC 2012 + aug, 20k
# iterations, 512 x 512 crops (mmseg's VOC schedule).
#
# Student: mmseg's deeplabv3plus_r50-d8 VOC config with the plain-stem ResNet-18 of mmseg's
#   deeplabv3plus_r18b-d8 recipe (mmseg's `ResNet`, 7x7 stem, torchvision keys and ImageNet
#   weights; d8: strides (1, 2, 1, 1), dilations (1, 1, 2, 4)) and that recipe's head widths
#   (channels 128, c1_channels 12, aux channels 64). It is the backbone the transfer configs
#   build for `resnet18` (configs/_base_/students/resnet18.py), so ReviewKD's segmentation
#   result sits beside the transfer runs, and a kd_transfer-exported resnet18 loads with
#   --cfg-options model.backbone.init_cfg.checkpoint=BACKBONE.pth. (mmseg's r18-d8 recipe uses
#   the deep-stem ResNetV1c-18 instead; its keys and stem differ.)
# Teacher: named by its upstream config, mmseg's deeplabv3plus_r101-d8_4xb4-20k_voc12aug-512x512
#   (ResNetV1c-101); only its backbone runs (heads dropped), with its own data preprocessor.
# Distillation: ReviewKD over the four backbone stages (module outputs, post-ReLU) shallow ->
#   deep: student channels [64, 128, 256, 512] -> teacher [256, 512, 1024, 2048]; D8 keeps
#   stages 3-4 at stride 8 in both, so the levels align pixel for pixel. ABF width 256,
#   weight 1.0 (ReviewKD's ImageNet ResNet-18 weight; the paper has no segmentation setting),
#   no warm-up; logged as `loss_reviewkd`.
#
#   python tools/train.py configs/reviewkd/deeplabv3plus_r101-r18-d8_4xb4-20k_voc12aug-512x512.py \
#       --cfg-options custom_hooks.0.teacher_checkpoint=/path/to/deeplabv3plus_r101-d8_512x512_20k_voc12aug.pth
_base_ = [
    'mmseg::deeplabv3plus/deeplabv3plus_r50-d8_4xb4-20k_voc12aug-512x512.py',
    '../transfer/_base_/seg_lr.py',  # the recipe's total batch (lr scaling)
]

custom_imports = dict(imports=['kd_transfer'], allow_failed_imports=False)

model = dict(
    pretrained=None,  # the backbone's init_cfg loads torchvision's ResNet-18 (or an export)
    backbone=dict(type='ResNet', depth=18,
                  init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet18')),
    decode_head=dict(c1_in_channels=64, c1_channels=12, in_channels=512, channels=128),
    auxiliary_head=dict(in_channels=256, channels=64))

custom_hooks = [
    dict(type='ReviewKDHook',
         teacher_config='mmseg::deeplabv3plus/deeplabv3plus_r101-d8_4xb4-20k_voc12aug-512x512.py',
         teacher_checkpoint='checkpoints/deeplabv3plus_r101-d8_512x512_20k_voc12aug_20200617_102345-c7ff3d56.pth',
         student_features='backbone',
         teacher_features='backbone',
         loss_weight=1.0,
         warmup_iters=0,
         mid_channels=256),
    dict(type='FiniteLossHook'),  # the list replaces the inherited one: name it
    dict(type='BackboneRecordHook'),
]
