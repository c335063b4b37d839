# ReviewKD: Faster R-CNN R-101-FPN teacher -> R-18-FPN student, COCO2017, 1x schedule.
#
# Student: mmdet's Faster R-CNN R-50-FPN 1x config with a ResNet-18 backbone (torchvision
#   weights; or a kd_transfer-exported backbone via model.backbone.init_cfg.checkpoint=...).
# Teacher: named by its upstream config, mmdet's faster-rcnn_r101_fpn_1x_coco; only its
#   backbone + FPN run (heads are dropped), with its own data preprocessor.
# Teacher vs the paper: the official ReviewKD detection runs (detectron2) distil from a
#   detectron2 model-zoo R-101-FPN detector trained 3x with multi-scale training (42.0 box AP
#   in detectron2's zoo), and train the student multi-scale too (shorter side 640-800). This
#   config's teacher is mmdet's single-scale 1x R-101 (39.4 box AP in mmdet's zoo), so gains are
#   not directly comparable with the paper's; the
#   stronger teacher recipe is configs/reviewkd/faster-rcnn_r101-ms3x-r18_fpn_1x_coco.py
#   (mmdet's faster-rcnn_r101_fpn_ms-3x_coco teacher).
# Distillation (docs/methods.md, ReviewKD detection): ABF chain over the five FPN outputs P2-P6
#   (in = mid = out = 256), HCL against the teacher's FPN outputs, weight 1.2, no warm-up.
#   The loss is logged as `loss_reviewkd`; the checkpoint's `state_dict` is a plain R-18
#   Faster R-CNN (ABF weights are stored beside it under `reviewkd_abf`).
#
# The teacher checkpoint is the mmdet model-zoo file (or your own R-101 Faster R-CNN); set it
# with --cfg-options when it is not at the default place:
#   python tools/train.py configs/reviewkd/faster-rcnn_r101-r18_fpn_1x_coco.py \
#       --cfg-options custom_hooks.0.teacher_checkpoint=/path/to/faster_rcnn_r101_fpn_1x_coco.pth
#   tools/dist_train.sh configs/reviewkd/faster-rcnn_r101-r18_fpn_1x_coco.py 8
_base_ = './faster-rcnn_r101-r50_fpn_1x_coco.py'  # the same recipe, teacher and hooks

model = dict(
    backbone=dict(
        depth=18, init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet18')),
    neck=dict(in_channels=[64, 128, 256, 512]))

# the R-18 student's weight (the base's hook list: ReviewKDHook first, then the guards)
custom_hooks = [dict(_base_.custom_hooks[0], loss_weight=1.2), *_base_.custom_hooks[1:]]
