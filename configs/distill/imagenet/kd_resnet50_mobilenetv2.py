# kd: resnet50 -> mobilenetv2 on imagenet (hyper-parameters and sources: docs/methods.md).
# ResNet-50 -> MobileNetV2 (torchvision layout) is the suite's own setting, not a paper pair: the
# papers' ImageNet pair is ResNet-50 -> MobileNet V1 (*_resnet50_mobilenetv1.py); the
# hyper-parameters below are carried over from that pair's recipe (DKD beta 2.0, ReviewKD mid
# 256 / weight 8; FitNets / GLD / focal KD: the suite's own) and have no
# published number to compare with.
# Teacher weights: train configs/distill/imagenet/baseline_resnet50.py (or use torchvision weights), then point
# --cfg-options model.teacher_checkpoint=PATH at it (default below).
_base_ = ['../../_base_/cls/imagenet.py']

model = dict(
    type='Distiller',
    student=dict(type='KDClassifier', backbone=dict(type='TVMobileNetV2'),
                 data_preprocessor={{_base_.imagenet_preprocessor}}),
    teacher=dict(type='KDClassifier', backbone=dict(type='TVResNet', depth=50),
                 data_preprocessor={{_base_.imagenet_preprocessor}}),
    teacher_checkpoint='checkpoints/imagenet/resnet50-0676ba61.pth',
    input_size=(224, 224),
    ce_weight=0.5,
    distill_losses=[dict(type='KDLoss', temperature=1, loss_weight=0.5)])
