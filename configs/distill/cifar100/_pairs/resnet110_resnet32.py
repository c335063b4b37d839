# The cifar100 pair resnet110 -> resnet32: teacher, student and schedule, shared by every
# method file configs/distill/cifar100/<method>_resnet110_resnet32.py, which adds only its losses
# and the CE weight.
# Teacher weights: train configs/distill/cifar100/baseline_resnet110.py, then point
# --cfg-options model.teacher_checkpoint=PATH at it (default below).
_base_ = ['../../../_base_/cls/cifar100_distiller.py']

model = dict(student=dict(backbone=dict(type='CifarResNet', depth=32)),
             teacher=dict(backbone=dict(type='CifarResNet', depth=110)),
             teacher_checkpoint='checkpoints/cifar100/resnet110.pth')
