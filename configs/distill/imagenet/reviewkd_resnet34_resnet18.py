# reviewkd: resnet34 -> resnet18 on imagenet (hyper-parameters and sources: docs/methods.md).
# The official recipe (dvlab-research/ReviewKD ImageNet/models/reviewkd.py, mdistiller
# configs/imagenet/r34_r18/reviewkd.yaml): pre-ReLU student features (STU_PREACT True) and
# pre-ReLU teacher features, ABF mid 512, weight 1, CE 1; warm-up 1 epoch (mdistiller's; the
# official code has none).
_base_ = ['./_pairs/resnet34_resnet18.py']  # teacher, student, schedule

model = dict(
    ce_weight=1.0,
    distill_losses=[dict(type='ReviewKDLoss', mid_channels=512, loss_weight=1.0, warmup=1,
                         student_preact=True)])
