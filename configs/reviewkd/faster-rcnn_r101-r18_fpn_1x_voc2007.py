# ReviewKD: Faster R-CNN R-101-FPN teacher -> R-18-FPN student, VOC2007 trainval -> VOC2007
# test (AP50, 11 points), mmdet's VOC 1x schedule.
#
# Student: mmdet's Faster R-CNN R-50-FPN VOC config on VOC2007 only, with a ResNet-18 backbone.
# Teacher: an R-101-FPN Faster R-CNN trained on VOC2007 (configs/reviewkd/faster-rcnn_r101_fpn_1x_voc2007.py).
#   It is named here by mmdet's upstream faster-rcnn_r101_fpn_1x_coco config: the hook runs the
#   teacher's backbone + FPN only and drops its heads, and those parts (and the data
#   preprocessor) are the same in both configs, so the 20-class checkpoint loads into it.
# Teacher vs the paper: the paper has no VOC detection setting; its COCO runs distil from a
#   detectron2 zoo R-101-FPN trained 3x multi-scale. Here the teacher is an R-101 trained on
#   VOC2007 alone with mmdet's single-scale VOC schedule (the config above).
# Distillation (docs/methods.md): ABF chain over P2-P6 (256 in / mid / out), HCL against the
#   teacher's FPN outputs, weight 1.2, no warm-up; logged as `loss_reviewkd`.
#
#   python tools/train.py configs/reviewkd/faster-rcnn_r101-r18_fpn_1x_voc2007.py \
#       --cfg-options custom_hooks.0.teacher_checkpoint=work_dirs/faster-rcnn_r101_fpn_1x_voc2007/epoch_4.pth
_base_ = './faster-rcnn_r101-r50_fpn_1x_voc2007.py'  # the same recipe, teacher and hooks

model = dict(
    backbone=dict(
        depth=18, init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet18')),
    neck=dict(in_channels=[64, 128, 256, 512]))

# the R-18 student's weight (the base's hook list: ReviewKDHook first, then the guards)
custom_hooks = [dict(_base_.custom_hooks[0], loss_weight=1.2), *_base_.custom_hooks[1:]]
