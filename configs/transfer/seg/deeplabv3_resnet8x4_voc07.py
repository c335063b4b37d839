# DeepLabV3 on Pascal VOC2007 segmentation (trainval 422 -> test 210 images, 21 classes),
# with the kd_transfer student "resnet8x4" as backbone (configs/_base_/students/resnet8x4.py).
# Recipe of mmseg's deeplabv3_r50-d8_4xb4-20k_voc12aug-512x512.py, datasets replaced:
# 20k iterations, 4 GPUs x 4 crops of 512 x 512, SGD lr 0.01 with poly decay, SyncBN;
# IoUMetric (mIoU). Per backbone as mmseg's recipes (configs/_base_/students/<student>.py):
# ResNet-18 d8 with the r18-d8 head widths (128 / c1 12 / aux 64); MobileNetV2 dilated to
# output stride 8 as mobilenet-v2-d8 (heads 512 / c1 48 / aux 256, as upstream). ASPP rates
# follow the output stride on the original image (OS 8: 12 / 24 / 36). Departures: CIFAR
# students take 1/4-size inputs, stay undilated (OS 16 on the original image, a 32 x 32 map on
# a 128 crop) with ASPP rates 6 / 12 / 18 and the r18-d8 head widths; the normalisation is the
# student's own (docs/transfer.md).
#
# The baseline and every distillation method differ only by the backbone checkpoint:
#   python tools/export_backbone.py CLS_CHECKPOINT BACKBONE.pth  # a trained resnet8x4 classifier
#   bash tools/dist_train.sh configs/transfer/seg/deeplabv3_resnet8x4_voc07.py 4 \
#       --cfg-options model.backbone.init_cfg.checkpoint=BACKBONE.pth
# Data: VOCdevkit linked at data/VOCdevkit/ (VOC2007 trainval and test merged in VOC2007/).
_base_ = ['../_base_/kinds/deeplabv3_voc07.py', '../../_base_/students/resnet8x4.py']
from kd_transfer.transfer_glue import student_glue  # noqa: E402  (written once)
globals().update(student_glue(_base_))  # model, pipelines, loaders from the two bases
