# reviewkd: resnet32x4 -> resnet8x4 on cifar100 (hyper-parameters and sources: docs/methods.md).
_base_ = ['./_pairs/resnet32x4_resnet8x4.py']  # teacher, student, schedule

model = dict(
    ce_weight=1.0,
    distill_losses=[dict(type='ReviewKDLoss', loss_weight=5.0, warmup=20)])
