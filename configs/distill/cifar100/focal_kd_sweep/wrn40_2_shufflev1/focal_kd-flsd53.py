# focal_kd with FLSD-53 (focal g = 5 where p_y < 0.2, else 3; Mukhoti et al. 2020) on
# wrn40_2_shufflev1; alpha / beta / gamma / T as ../../focal_kd_wrn40_2_shufflev1.py (the suite's choice, see there).
_base_ = ['../../focal_kd_wrn40_2_shufflev1.py']

model = dict(distill_losses=[dict(
    type='FocalCalibKDLoss', alpha={{_base_.focal_kd.alpha}}, beta={{_base_.focal_kd.beta}},
    gamma={{_base_.focal_kd.gamma}}, temperature={{_base_.focal_kd.temperature}},
    focal_gamma='flsd53')])
