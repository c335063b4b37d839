# focal_kd: wrn40_2 -> wrn16_2 on cifar100 (hyper-parameters and sources: docs/methods.md).
# Not one of the paper's four pairs (no published sweep for it).
# The paper gives a sweep, not one setting: alpha in [0, 0.1], beta = 1 - alpha, gamma in
# [0, 0.01]. alpha 0.1 / beta 0.9 / gamma 0.01 below is the suite's choice (a grid corner);
# the temperature T 4 (the CIFAR KD recipe) and the fixed focal g 3 ('flsd53' for FLSD-53) are
# the suite's own, not stated by the paper. ce_weight 0: the loss carries its own beta * CE.
# Grid configs inherit this file and change alpha / beta / gamma only.
_base_ = ['./_pairs/wrn40_2_wrn16_2.py']  # teacher, student, schedule

focal_kd = dict(type='FocalCalibKDLoss', alpha=0.1, beta=0.9, gamma=0.01, temperature=4,
                focal_gamma=3.0)
model = dict(ce_weight=0.0, distill_losses=[focal_kd])
