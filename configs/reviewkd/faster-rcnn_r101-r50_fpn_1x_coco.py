# ReviewKD: Faster R-CNN R-101-FPN teacher -> R-50-FPN student, COCO2017, 1x schedule.
#
# Student: mmdet's faster-rcnn_r50_fpn_1x_coco unchanged.
# Teacher: mmdet's faster-rcnn_r101_fpn_1x_coco (upstream config); only its backbone + FPN run.
# Distillation (METHODS.md): ABF chain over P2-P6 (256 channels in / mid / out), HCL against
#   the teacher's FPN outputs, weight 1.0, no warm-up; logged as `loss_reviewkd`.
#
#   python tools/train.py configs/reviewkd/faster-rcnn_r101-r50_fpn_1x_coco.py \
#       --cfg-options custom_hooks.0.teacher_checkpoint=/path/to/faster_rcnn_r101_fpn_1x_coco.pth
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'

custom_imports = dict(imports=['kd_transfer'], allow_failed_imports=False)

custom_hooks = [
    dict(type='ReviewKDHook',
         teacher_config='mmdet::faster_rcnn/faster-rcnn_r101_fpn_1x_coco.py',
         teacher_checkpoint='checkpoints/faster_rcnn_r101_fpn_1x_coco_20200130-f513f705.pth',
         student_features='neck',
         teacher_features='neck',
         loss_weight=1.0,
         warmup_iters=0,
         mid_channels=256),
    dict(type='FiniteLossHook'),  # the list replaces the inherited one: name it
]
