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
_base_ = [
    'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
    '../../_base_/students/mobilenetv2.py',
]
custom_imports = dict(imports=['kd_transfer'], allow_failed_imports=False)


# ---- student glue: the same lines in every det config of this kind; every number comes
# ---- from the student file (channels, strides, input_downscale, normalisation).
def _shrink(pipeline, factor=_base_.input_downscale):
    """The pipeline with every image size divided by the student's input_downscale."""
    return [dict(t, **{k: tuple(v // factor for v in t[k])
                       for k in ('scale', 'crop_size', 'size') if k in t}) for t in pipeline]


model = dict(
    # the normalisation the student was trained with (mmcv loads BGR images: swap to RGB)
    data_preprocessor=dict(mean=_base_.student_norm['mean'], std=_base_.student_norm['std'],
                           bgr_to_rgb=_base_.student_norm['channel_order'] == 'RGB'),
    # as mmdet's ResNet recipe: BatchNorm statistics frozen, stem + first stage frozen
    backbone=dict(_base_.backbone, norm_eval=True, frozen_stages=1),
    neck=dict(in_channels=_base_.backbone_channels),
    rpn_head=dict(anchor_generator=dict(strides=_base_.fpn_strides)),
    roi_head=dict(
        bbox_roi_extractor=dict(
            featmap_strides=_base_.fpn_strides[:4],
            finest_scale=56 // _base_.input_downscale)))
train_pipeline = _shrink(_base_.train_pipeline)
test_pipeline = _shrink(_base_.test_pipeline)
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
