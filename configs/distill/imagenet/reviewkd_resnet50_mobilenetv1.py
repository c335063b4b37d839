# reviewkd: resnet50 -> mobilenetv1 on imagenet, the papers' pair (official ReviewKD
# ImageNet/README.md + models/reviewkd.py, mdistiller configs/imagenet/r50_mv1/reviewkd.yaml):
# pre-ReLU student features (STU_PREACT True), pre-ReLU teacher features, ABF mid 256, weight 8,
# warm-up 1 epoch (mdistiller's; the official code has none), CE 1. Method notes: docs/methods.md.
_base_ = ['./_pairs/resnet50_mobilenetv1.py']  # teacher, student, schedule

model = dict(
    ce_weight=1.0,
    distill_losses=[dict(type='ReviewKDLoss', mid_channels=256, loss_weight=8.0, warmup=1,
                         student_preact=True)])
