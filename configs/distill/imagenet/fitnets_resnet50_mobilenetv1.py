# fitnets: resnet50 -> mobilenetv1 on imagenet. No published FitNets recipe for this pair: the
# values are the suite's own (CIFAR defaults: hint stage 2, i.e. 256 x 28 x 28 student map ->
# 512 x 28 x 28 teacher map through the public ConvReg, here a 1x1 conv; weight 100; CE 1).
# Method notes: docs/methods.md.
# Teacher weights: torchvision's ResNet-50 (IMAGENET1K_V1, resnet50-0676ba61.pth, as the papers) or
# train configs/distill/imagenet/baseline_resnet50.py, then point
# --cfg-options model.teacher_checkpoint=PATH at it (default below).
# Schedule: configs/_base_/cls/imagenet.py (100 epochs, x0.1 at 30/60/90, wd 1e-4, lr 0.1 at
# total batch 256; mdistiller's 0.2 at batch 512 for KD / AT / DKD is the same lr per sample).
_base_ = ['../../_base_/cls/imagenet.py']

model = dict(
    type='Distiller',
    student=dict(type='KDClassifier', backbone=dict(type='MobileNetV1'),
                 data_preprocessor={{_base_.imagenet_preprocessor}}),
    teacher=dict(type='KDClassifier', backbone=dict(type='TVResNet', depth=50),
                 data_preprocessor={{_base_.imagenet_preprocessor}}),
    teacher_checkpoint='checkpoints/imagenet/resnet50-0676ba61.pth',
    input_size=(224, 224),
    ce_weight=1.0,
    distill_losses=[dict(type='FitNetsLoss', hint_layer=2, loss_weight=100)])
