# DeepLabV3 on COCO 2017 semantic masks in the 20 VOC classes + background (21 classes),
# with the kd_transfer student "mobilenetv2" as backbone (configs/_base_/students/mobilenetv2.py).
# Recipe of mmseg's deeplabv3_r50-d8_4xb4-40k_voc12aug-512x512.py, datasets replaced:
# 40k iterations, 4 GPUs x 4 crops of 512 x 512, SGD lr 0.01 with poly decay, SyncBN;
# IoUMetric (mIoU). Per backbone as mmseg's recipes (configs/_base_/students/<student>.py):
# ResNet-18 d8 with the r18-d8 head widths (128 / c1 12 / aux 64); MobileNetV2 dilated to
# output stride 8 as mobilenet-v2-d8 (heads 512 / c1 48 / aux 256, as upstream). ASPP rates
# follow the output stride on the original image (OS 8: 12 / 24 / 36). Departures: CIFAR
# students take 1/4-size inputs, stay undilated (OS 16 on the original image, a 32 x 32 map on
# a 128 crop) with ASPP rates 6 / 12 / 18 and the r18-d8 head widths; the normalisation is the
# student's own (docs/transfer.md).
#
# The baseline and every distillation method differ only by the backbone checkpoint:
#   python tools/export_backbone.py CLS_CHECKPOINT BACKBONE.pth  # a trained mobilenetv2 classifier
#   bash tools/dist_train.sh configs/transfer/seg/deeplabv3_mobilenetv2_coco20voc.py 4 \
#       --cfg-options model.backbone.init_cfg.checkpoint=BACKBONE.pth
# Data: COCO 2017 at data/coco/ and the masks of
#   python tools/coco_to_semseg.py data/coco --classes voc20  # -> data/coco/semseg_voc20/
_base_ = [
    'mmseg::deeplabv3/deeplabv3_r50-d8_4xb4-40k_voc12aug-512x512.py',
    '../_base_/seg_lr.py',  # the recipe's total batch (lr scaling)
    '../_base_/coco20voc_seg.py',
    '../../_base_/students/mobilenetv2.py',
]
custom_imports = dict(imports=['kd_transfer'], allow_failed_imports=False)
sync_bn = 'torch'  # as upstream's SyncBN, also for the students' own BatchNorm layers


# ---- student glue: the same lines in every seg config of this kind; every number comes
# ---- from the student file (channels, strides, input_downscale, normalisation, heads).
def _shrink(pipeline, factor=_base_.input_downscale):
    """The pipeline with every image size divided by the student's input_downscale."""
    return [dict(t, **{k: tuple(v // factor for v in t[k])
                       for k in ('scale', 'crop_size', 'size') if k in t}) for t in pipeline]


crop_size = tuple(v // _base_.input_downscale for v in _base_.crop_size)
model = dict(
    pretrained=None,  # the backbone's init_cfg loads the exported student instead
    # the normalisation the student was trained with (mmcv loads BGR images: swap to RGB)
    data_preprocessor=dict(size=crop_size, mean=_base_.student_norm['mean'],
                           std=_base_.student_norm['std'],
                           bgr_to_rgb=_base_.student_norm['channel_order'] == 'RGB'),
    backbone=dict(_base_.backbone, **_base_.seg_backbone),  # the student's output-stride setting
    decode_head=dict(
        num_classes=_base_.seg_num_classes,
        in_channels=_base_.backbone_channels[-1],
        in_index=len(_base_.backbone_channels) - 1,
        channels=_base_.seg_heads['channels'],
        dilations=_base_.aspp_dilations),
    auxiliary_head=dict(
        num_classes=_base_.seg_num_classes,
        in_channels=_base_.backbone_channels[-2],
        in_index=len(_base_.backbone_channels) - 2,
        channels=_base_.seg_heads['aux_channels']))
train_pipeline = _shrink(_base_.train_pipeline)
test_pipeline = _shrink(_base_.test_pipeline)
train_dataloader = dict(
    dataset=dict(_delete_=True, pipeline=train_pipeline, **_base_.seg_train_dataset))
val_dataloader = dict(
    dataset=dict(_delete_=True, pipeline=test_pipeline, **_base_.seg_val_dataset))
test_dataloader = val_dataloader
