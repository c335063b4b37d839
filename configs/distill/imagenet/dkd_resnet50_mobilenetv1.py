# dkd: resnet50 -> mobilenetv1 on imagenet, the papers' pair (mdistiller
# configs/imagenet/r50_mv1/dkd.yaml): alpha 1, beta 2.0, T 1, warm-up 1 epoch, CE 1.
# Method notes: docs/methods.md.
_base_ = ['./_pairs/resnet50_mobilenetv1.py']  # teacher, student, schedule

model = dict(
    ce_weight=1.0,
    distill_losses=[dict(type='DKDLoss', alpha=1.0, beta=2.0, temperature=1, warmup=1)])
