# kd: resnet34 -> resnet18 on imagenet (hyper-parameters and sources: docs/methods.md).
_base_ = ['./_pairs/resnet34_resnet18.py']  # teacher, student, schedule

model = dict(
    ce_weight=0.5,
    distill_losses=[dict(type='KDLoss', temperature=1, loss_weight=0.5)])
