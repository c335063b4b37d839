# The imagenet pair resnet50 -> mobilenetv2: teacher, student and schedule, shared by every method
# file configs/distill/imagenet/<method>_resnet50_mobilenetv2.py, which adds only its losses and
# the CE weight.
# Teacher weights: train configs/distill/imagenet/baseline_resnet50.py (or use torchvision
# weights), then point --cfg-options model.teacher_checkpoint=PATH at it (default below).
_base_ = ['../../../_base_/cls/imagenet_distiller.py']

model = dict(student=dict(backbone=dict(type='TVMobileNetV2')),
             teacher=dict(backbone=dict(type='TVResNet', depth=50)),
             teacher_checkpoint='checkpoints/imagenet/resnet50-0676ba61.pth')
