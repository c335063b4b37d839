# gld: resnet32x4 -> shufflev1 on cifar100 (hyper-parameters and sources: docs/methods.md).
_base_ = ['./_pairs/resnet32x4_shufflev1.py']  # teacher, student, schedule

model = dict(
    ce_weight=0.3,
    distill_losses=[dict(type='GLDLoss', alpha=0.7, beta=500, div=2, pool='fixed')])
