# ReviewKD: Faster R-CNN R-101-FPN teacher -> R-50-FPN student, VOC2007 trainval -> VOC2007
# test (AP50, 11 points), mmdet's VOC 1x schedule.
#
# Student: mmdet's Faster R-CNN R-50-FPN VOC config on VOC2007 only.
# Teacher: an R-101-FPN Faster R-CNN trained on VOC2007 (configs/reviewkd/faster-rcnn_r101_fpn_1x_voc2007.py),
#   named by mmdet's upstream faster-rcnn_r101_fpn_1x_coco config (only backbone + FPN run;
#   see faster-rcnn_r101-r18_fpn_1x_voc2007.py).
# Teacher vs the paper: the paper has no VOC detection setting; its COCO runs distil from a
#   detectron2 zoo R-101-FPN trained 3x multi-scale. Here the teacher is an R-101 trained on
#   VOC2007 alone with mmdet's single-scale VOC schedule (the config above).
# Distillation (docs/methods.md): ABF chain over P2-P6, HCL against the teacher's FPN outputs,
#   weight 1.0, no warm-up; logged as `loss_reviewkd`.
#
#   python tools/train.py configs/reviewkd/faster-rcnn_r101-r50_fpn_1x_voc2007.py \
#       --cfg-options custom_hooks.0.teacher_checkpoint=work_dirs/faster-rcnn_r101_fpn_1x_voc2007/epoch_4.pth
_base_ = './_base_/faster-rcnn_r50_fpn_1x_voc2007.py'

custom_imports = dict(imports=['kd_transfer'], allow_failed_imports=False)

custom_hooks = [
    dict(type='ReviewKDHook',
         teacher_config='mmdet::faster_rcnn/faster-rcnn_r101_fpn_1x_coco.py',
         teacher_checkpoint='work_dirs/faster-rcnn_r101_fpn_1x_voc2007/epoch_4.pth',
         student_features='neck',
         teacher_features='neck',
         loss_weight=1.0,
         warmup_iters=0,
         mid_channels=256),
    dict(type='FiniteLossHook'),  # the list replaces the inherited one: name it
    dict(type='BackboneRecordHook'),
]
