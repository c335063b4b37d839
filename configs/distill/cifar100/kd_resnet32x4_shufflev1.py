# kd: resnet32x4 -> shufflev1 on cifar100 (hyper-parameters and sources: docs/methods.md).
_base_ = ['./_pairs/resnet32x4_shufflev1.py']  # teacher, student, schedule

model = dict(
    ce_weight=0.1,
    distill_losses=[dict(type='KDLoss', temperature=4, loss_weight=0.9)])
