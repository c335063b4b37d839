# gld: wrn40_2 -> wrn16_2 on cifar100 (hyper-parameters and sources: docs/methods.md).
_base_ = ['./_pairs/wrn40_2_wrn16_2.py']  # teacher, student, schedule

model = dict(
    ce_weight=0.3,
    distill_losses=[dict(type='GLDLoss', alpha=0.7, beta=500, div=2, pool='fixed')])
