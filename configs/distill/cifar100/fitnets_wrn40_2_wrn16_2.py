# fitnets: wrn40_2 -> wrn16_2 on cifar100 (hyper-parameters and sources: docs/methods.md).
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
    ce_weight=1.0,
    distill_losses=[dict(type='FitNetsLoss', hint_layer=2, loss_weight=100)])
