# ReviewKD hook on a cheap CIFAR pair: Faster R-CNN resnet56-FPN teacher -> resnet20-FPN student on
# VOC2007. The demo (tools/demo.py) trains the teacher with
# configs/transfer/det/faster-rcnn_resnet56_fpn_voc07.py and then this config; on real data:
#   python tools/train.py configs/reviewkd/faster-rcnn_resnet56-resnet20_fpn_voc07.py \
#       --cfg-options model.backbone.init_cfg.checkpoint=RESNET20_BACKBONE.pth \
#                     custom_hooks.0.teacher_checkpoint=TEACHER_DETECTOR.pth
_base_ = '../transfer/det/faster-rcnn_resnet20_fpn_voc07.py'

custom_hooks = [
    dict(type='ReviewKDHook',
         teacher_config='configs/transfer/det/faster-rcnn_resnet56_fpn_voc07.py',
         teacher_checkpoint='work_dirs/faster-rcnn_resnet56_fpn_voc07/iter_last.pth',
         student_features='neck',
         teacher_features='neck',
         loss_weight=1.0,
         warmup_iters=0,
         mid_channels=256),
    dict(type='FiniteLossHook'),  # the list replaces the inherited one: name it
    dict(type='BackboneRecordHook'),
]
