# gld: resnet34 -> resnet18 on imagenet (hyper-parameters and sources: docs/methods.md).
_base_ = ['./_pairs/resnet34_resnet18.py']  # teacher, student, schedule

model = dict(
    ce_weight=0.3,
    distill_losses=[dict(type='GLDLoss', alpha=0.7, beta=500, div=2, pool='adaptive')])
