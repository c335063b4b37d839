# The imagenet pair resnet34 -> resnet18: teacher, student and schedule, shared by every
# method file configs/distill/imagenet/<method>_resnet34_resnet18.py, which adds only its losses
# and the CE weight.
# Teacher weights: train configs/distill/imagenet/baseline_resnet34.py (or use torchvision
# weights), then point --cfg-options model.teacher_checkpoint=PATH at it (default below).
_base_ = ['../../../_base_/cls/imagenet_distiller.py']

model = dict(student=dict(backbone=dict(type='TVResNet', depth=18)),
             teacher=dict(backbone=dict(type='TVResNet', depth=34)),
             teacher_checkpoint='checkpoints/imagenet/resnet34-b627a593.pth')
