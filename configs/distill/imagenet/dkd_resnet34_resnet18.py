# dkd: resnet34 -> resnet18 on imagenet (hyper-parameters and sources: docs/methods.md).
_base_ = ['./_pairs/resnet34_resnet18.py']  # teacher, student, schedule

model = dict(
    ce_weight=1.0,
    distill_losses=[dict(type='DKDLoss', alpha=1.0, beta=0.5, temperature=1, warmup=1)])
