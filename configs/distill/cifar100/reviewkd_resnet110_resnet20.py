# reviewkd: resnet110 -> resnet20 on cifar100 (hyper-parameters and sources: docs/methods.md).
# Teacher weights: train configs/distill/cifar100/baseline_resnet110.py, then point
# --cfg-options model.teacher_checkpoint=PATH at it (default below).
_base_ = ['../../_base_/cls/cifar100.py']

model = dict(
    type='Distiller',
    student=dict(type='KDClassifier', backbone=dict(type='CifarResNet', depth=20),
                 data_preprocessor={{_base_.cifar_preprocessor}}),
    teacher=dict(type='KDClassifier', backbone=dict(type='CifarResNet', depth=110),
                 data_preprocessor={{_base_.cifar_preprocessor}}),
    teacher_checkpoint='checkpoints/cifar100/resnet110.pth',
    input_size=(32, 32),
    ce_weight=1.0,
    distill_losses=[dict(type='ReviewKDLoss', loss_weight=1.0, warmup=20)])
