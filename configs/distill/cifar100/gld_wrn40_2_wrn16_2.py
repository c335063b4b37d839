# gld: wrn40_2 -> wrn16_2 on cifar100 (hyper-parameters and sources: docs/methods.md).
# Teacher weights: train configs/distill/cifar100/baseline_wrn40_2.py, then point
# --cfg-options model.teacher_checkpoint=PATH at it (default below).
_base_ = ['../../_base_/cls/cifar100.py']

model = dict(
    type='Distiller',
    student=dict(type='KDClassifier', backbone=dict(type='WideResNet', depth=16, widen_factor=2),
                 data_preprocessor={{_base_.cifar_preprocessor}}),
    teacher=dict(type='KDClassifier', backbone=dict(type='WideResNet', depth=40, widen_factor=2),
                 data_preprocessor={{_base_.cifar_preprocessor}}),
    teacher_checkpoint='checkpoints/cifar100/wrn40_2.pth',
    input_size=(32, 32),
    ce_weight=0.3,
    distill_losses=[dict(type='GLDLoss', alpha=0.7, beta=500, div=2, pool='fixed')])
