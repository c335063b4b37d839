# kd: resnet50 -> mobilenetv1 on imagenet, the papers' pair (ReviewKD / DKD papers, mdistiller
# configs/imagenet/r50_mv1/kd.yaml): T 1, CE 0.5, KD 0.5. Method notes: docs/methods.md.
_base_ = ['./_pairs/resnet50_mobilenetv1.py']  # teacher, student, schedule

model = dict(
    ce_weight=0.5,
    distill_losses=[dict(type='KDLoss', temperature=1, loss_weight=0.5)])
