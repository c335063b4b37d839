# Faster R-CNN + FPN on COCO 2017,
# with the kd_transfer student "mobilenetv2" as backbone (configs/_base_/students/mobilenetv2.py).
# Recipe of mmdet's faster-rcnn_r50_fpn_1x_coco.py: 1x schedule (12 epochs, 8 GPUs x 2 images,
# SGD lr 0.02, x0.1 at epochs 8 and 11); CocoMetric (bbox).
# Departures (docs/transfer.md): the student's own normalisation (its classification
# config's mean / std); BatchNorm frozen and stem + first stage frozen for every student (as
# mmdet's ResNet); CIFAR students see 1/4-size images (every pipeline size / 4).
#
# The baseline and every distillation method differ only by the backbone checkpoint:
#   python tools/export_backbone.py CLS_CHECKPOINT BACKBONE.pth  # a trained mobilenetv2 classifier
#   bash tools/dist_train.sh configs/transfer/det/faster-rcnn_mobilenetv2_fpn_1x_coco.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=BACKBONE.pth
# Data: COCO 2017 linked at data/coco/ (annotations/, train2017/, val2017/).
_base_ = ['../_base_/kinds/faster-rcnn_fpn_1x_coco.py', '../../_base_/students/mobilenetv2.py']
from kd_transfer.transfer_glue import student_glue  # noqa: E402  (written once)
globals().update(student_glue(_base_))  # model, pipelines, loaders from the two bases
