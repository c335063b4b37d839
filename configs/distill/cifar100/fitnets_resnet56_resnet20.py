# fitnets: resnet56 -> resnet20 on cifar100 (hyper-parameters and sources: docs/methods.md).
_base_ = ['./_pairs/resnet56_resnet20.py']  # teacher, student, schedule

model = dict(
    ce_weight=1.0,
    distill_losses=[dict(type='FitNetsLoss', hint_layer=2, loss_weight=100)])
