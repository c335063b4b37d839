# focal_kd sweep point alpha 0.05, beta 0.95 (= 1 - alpha), gamma 0.003: wrn40_2 -> shufflev1
# (grid and the values it inherits: ../README.md, ../../focal_kd_wrn40_2_shufflev1.py).
_base_ = ['../../focal_kd_wrn40_2_shufflev1.py']

model = dict(distill_losses=[dict(
    type='FocalCalibKDLoss', alpha=0.05, beta=0.95, gamma=0.003,
    temperature={{_base_.focal_kd.temperature}}, focal_gamma={{_base_.focal_kd.focal_gamma}})])
