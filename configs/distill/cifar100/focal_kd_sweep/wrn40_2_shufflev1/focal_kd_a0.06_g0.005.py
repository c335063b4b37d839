# focal_kd sweep point alpha 0.06, beta 0.94 (= 1 - alpha), gamma 0.005: wrn40_2 -> shufflev1
# (grid and the values it inherits: ../README.md, ../../focal_kd_wrn40_2_shufflev1.py).
_base_ = ['../../focal_kd_wrn40_2_shufflev1.py']

model = dict(distill_losses=[dict(
    type='FocalCalibKDLoss', alpha=0.06, beta=0.94, gamma=0.005,
    temperature={{_base_.focal_kd.temperature}}, focal_gamma={{_base_.focal_kd.focal_gamma}})])
