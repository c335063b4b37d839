# The VOC2007 teacher: Faster R-CNN R-101-FPN trained on VOC2007 trainval (no ReviewKD).
# Train it first when no VOC-trained R-101 detector is at hand:
#   python tools/train.py configs/reviewkd/faster-rcnn_r101_fpn_1x_voc2007.py
# and pass its checkpoint to the VOC2007 ReviewKD configs.
_base_ = './_base_/faster-rcnn_r50_fpn_1x_voc2007.py'

model = dict(
    backbone=dict(
        depth=101, init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet101')))
