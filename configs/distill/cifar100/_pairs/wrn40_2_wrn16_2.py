# The cifar100 pair wrn40_2 -> wrn16_2: teacher, student and schedule, shared by every
# method file configs/distill/cifar100/<method>_wrn40_2_wrn16_2.py, which adds only its losses
# and the CE weight.
# Teacher weights: train configs/distill/cifar100/baseline_wrn40_2.py, then point
# --cfg-options model.teacher_checkpoint=PATH at it (default below).
_base_ = ['../../../_base_/cls/cifar100_distiller.py']

model = dict(student=dict(backbone=dict(type='WideResNet', depth=16, widen_factor=2)),
             teacher=dict(backbone=dict(type='WideResNet', depth=40, widen_factor=2)),
             teacher_checkpoint='checkpoints/cifar100/wrn40_2.pth')
