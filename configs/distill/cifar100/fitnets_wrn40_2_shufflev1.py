# fitnets: wrn40_2 -> shufflev1 on cifar100 (hyper-parameters and sources: docs/methods.md).
_base_ = ['./_pairs/wrn40_2_shufflev1.py']  # teacher, student, schedule

model = dict(
    ce_weight=1.0,
    distill_losses=[dict(type='FitNetsLoss', hint_layer=2, loss_weight=100)])
