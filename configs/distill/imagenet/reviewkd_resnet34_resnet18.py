# reviewkd: resnet34 -> resnet18 on imagenet (hyper-parameters and sources: docs/methods.md).
# The official recipe (dvlab-research/ReviewKD ImageNet/models/reviewkd.py, mdistiller
# configs/imagenet/r34_r18/reviewkd.yaml): pre-ReLU student features (STU_PREACT True) and
# pre-ReLU teacher features, ABF mid 512, weight 1, CE 1; warm-up 1 epoch (mdistiller's; the
# official code has none).
# Teacher weights: train configs/distill/imagenet/baseline_resnet34.py (or use torchvision weights), then point
# --cfg-options model.teacher_checkpoint=PATH at it (default below).
_base_ = ['../../_base_/cls/imagenet.py']

model = dict(
    type='Distiller',
    student=dict(type='KDClassifier', backbone=dict(type='TVResNet', depth=18),
                 data_preprocessor={{_base_.imagenet_preprocessor}}),
    teacher=dict(type='KDClassifier', backbone=dict(type='TVResNet', depth=34),
                 data_preprocessor={{_base_.imagenet_preprocessor}}),
    teacher_checkpoint='checkpoints/imagenet/resnet34-b627a593.pth',
    input_size=(224, 224),
    ce_weight=1.0,
    distill_losses=[dict(type='ReviewKDLoss', mid_channels=512, loss_weight=1.0, warmup=1,
                         student_preact=True)])
