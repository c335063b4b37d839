# ReviewKD: Faster R-CNN R-101-FPN teacher -> R-50-FPN student, COCO2017, 1x schedule.
#
# Student: mmdet's faster-rcnn_r50_fpn_1x_coco unchanged.
# Teacher: mmdet's faster-rcnn_r101_fpn_1x_coco (upstream config); only its backbone + FPN run.
# Teacher vs the paper: the official ReviewKD detection runs (detectron2) distil from a
#   detectron2 model-zoo R-101-FPN detector trained 3x with multi-scale training (42.0 box AP
#   in detectron2's zoo), and train the student multi-scale too (shorter side 640-800). This
#   config's teacher is mmdet's single-scale 1x R-101 (39.4 box AP in mmdet's zoo), so gains are
#   not directly comparable with the paper's; the
#   stronger teacher recipe is configs/reviewkd/faster-rcnn_r101-ms3x-r18_fpn_1x_coco.py
#   (for R-50: the same teacher_config / checkpoint in this config's hook).
# Distillation (docs/methods.md): ABF chain over P2-P6 (256 channels in / mid / out), HCL against
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
    dict(type='BackboneRecordHook'),
]
