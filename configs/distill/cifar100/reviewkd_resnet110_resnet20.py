# reviewkd: resnet110 -> resnet20 on cifar100 (hyper-parameters and sources: docs/methods.md).
_base_ = ['./_pairs/resnet110_resnet20.py']  # teacher, student, schedule

model = dict(
    ce_weight=1.0,
    distill_losses=[dict(type='ReviewKDLoss', loss_weight=1.0, warmup=20)])
