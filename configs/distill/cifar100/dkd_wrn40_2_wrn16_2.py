# dkd: wrn40_2 -> wrn16_2 on cifar100 (hyper-parameters and sources: docs/methods.md).
_base_ = ['./_pairs/wrn40_2_wrn16_2.py']  # teacher, student, schedule

model = dict(
    ce_weight=1.0,
    distill_losses=[dict(type='DKDLoss', alpha=1.0, beta=6.0, temperature=4, warmup=20)])
