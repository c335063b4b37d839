# The cifar100 pair resnet32x4 -> shufflev1: teacher, student and schedule, shared by every
# method file configs/distill/cifar100/<method>_resnet32x4_shufflev1.py, which adds only its losses
# and the CE weight.
# Teacher weights: train configs/distill/cifar100/baseline_resnet32x4.py, then point
# --cfg-options model.teacher_checkpoint=PATH at it (default below).
_base_ = ['../../../_base_/cls/cifar100_distiller.py']

model = dict(student=dict(backbone=dict(type='ShuffleNetV1')),
             teacher=dict(backbone=dict(type='CifarResNet', depth=32, width=4)),
             teacher_checkpoint='checkpoints/cifar100/resnet32x4.pth')
optim_wrapper = dict(optimizer=dict(lr=0.01))  # recipe lr for ShuffleNet / MobileNet students
