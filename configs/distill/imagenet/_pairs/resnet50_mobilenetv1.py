# The papers' ImageNet pair ResNet-50 -> MobileNet (V1) (ReviewKD / DKD papers, mdistiller
# configs/imagenet/r50_mv1/): teacher, student and their preprocessing, shared by every method
# file configs/distill/imagenet/<method>_resnet50_mobilenetv1.py, which adds only its losses.
# Teacher weights: torchvision's ResNet-50 (IMAGENET1K_V1, resnet50-0676ba61.pth, as the papers) or
# train configs/distill/imagenet/baseline_resnet50.py, then point
# --cfg-options model.teacher_checkpoint=PATH at it (default below).
# Schedule: configs/_base_/cls/imagenet.py (100 epochs, x0.1 at 30/60/90, wd 1e-4, lr 0.1 at
# total batch 256; mdistiller's 0.2 at batch 512 for KD / AT / DKD is the same lr per sample).
_base_ = ['../../../_base_/cls/imagenet_distiller.py']

model = dict(student=dict(backbone=dict(type='MobileNetV1')),
             teacher=dict(backbone=dict(type='TVResNet', depth=50)),
             teacher_checkpoint='checkpoints/imagenet/resnet50-0676ba61.pth')
