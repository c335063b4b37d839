# Faster R-CNN + FPN on Pascal VOC2007 (trainval -> test; VOCMetric mAP, '11points'),
# with the kd_transfer student "resnet20" as backbone (configs/_base_/students/resnet20.py).
# Recipe of mmdet's faster-rcnn_r50_fpn_1x_voc0712.py restricted to VOC2007
# (configs/transfer/_base_/faster-rcnn_fpn_voc07.py): 4 epochs over the training set repeated
# 3 times, 8 GPUs x 2 images, SGD lr 0.01, x0.1 after epoch 3.
# Departures (docs/transfer.md): the student's own normalisation (its classification
# config's mean / std); BatchNorm frozen and stem + first stage frozen for every student (as
# mmdet's ResNet); CIFAR students see 1/4-size images (every pipeline size / 4).
#
# The baseline and every distillation method differ only by the backbone checkpoint:
#   python tools/export_backbone.py CLS_CHECKPOINT BACKBONE.pth  # a trained resnet20 classifier
#   bash tools/dist_train.sh configs/transfer/det/faster-rcnn_resnet20_fpn_voc07.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=BACKBONE.pth
# Data: VOCdevkit linked at data/VOCdevkit/ (VOC2007 trainval and test merged in VOC2007/).
_base_ = ['../_base_/kinds/faster-rcnn_fpn_voc07.py', '../../_base_/students/resnet20.py']
from kd_transfer.transfer_glue import student_glue  # noqa: E402  (written once)
globals().update(student_glue(_base_))  # model, pipelines, loaders from the two bases
