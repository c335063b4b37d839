# gld: resnet32x4 -> resnet8x4 on cifar100 (hyper-parameters and sources: docs/methods.md).
# Teacher weights: train configs/distill/cifar100/baseline_resnet32x4.py, then point
# --cfg-options model.teacher_checkpoint=PATH at it (default below).
_base_ = ['../../_base_/cls/cifar100.py']

model = dict(
    type='Distiller',
    student=dict(type='KDClassifier', backbone=dict(type='CifarResNet', depth=8, width=4),
                 data_preprocessor={{_base_.cifar_preprocessor}}),
    teacher=dict(type='KDClassifier', backbone=dict(type='CifarResNet', depth=32, width=4),
                 data_preprocessor={{_base_.cifar_preprocessor}}),
    teacher_checkpoint='checkpoints/cifar100/resnet32x4.pth',
    input_size=(32, 32),
    ce_weight=0.3,
    distill_losses=[dict(type='GLDLoss', alpha=0.7, beta=500, div=2, pool='fixed')])
