# at: resnet110 -> resnet32 on cifar100 (hyper-parameters and sources: docs/methods.md).
_base_ = ['./_pairs/resnet110_resnet32.py']  # teacher, student, schedule

model = dict(
    ce_weight=1.0,
    distill_losses=[dict(type='ATLoss', p=2, loss_weight=1000)])
