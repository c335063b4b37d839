# at: resnet34 -> resnet18 on imagenet (hyper-parameters and sources: docs/methods.md).
_base_ = ['./_pairs/resnet34_resnet18.py']  # teacher, student, schedule

model = dict(
    ce_weight=1.0,
    distill_losses=[dict(type='ATLoss', p=2, loss_weight=1000)])
