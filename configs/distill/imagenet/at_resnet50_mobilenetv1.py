# at: resnet50 -> mobilenetv1 on imagenet, the papers' pair (mdistiller
# configs/imagenet/r50_mv1/at.yaml with its AT defaults: p 2, weight 1000, CE 1).
# Stage pairs as mdistiller runs them: its AT zips the student's feats[1:] with the teacher's
# feats[1:]; its MobileNetV1 lists no stem, so the three student maps (strides 8/16/32) meet the
# teacher's layer1..layer3 (strides 4/8/16), the larger map pooled to the smaller. In this
# suite's indices: (student stage, teacher stage) = (2, 1), (3, 2), (4, 3). The published 69.56
# comes from this pairing; stages=None instead pairs stages of equal stride (the suite's own).
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
    distill_losses=[dict(type='ATLoss', p=2, loss_weight=1000,
                         stages=[(2, 1), (3, 2), (4, 3)])])
