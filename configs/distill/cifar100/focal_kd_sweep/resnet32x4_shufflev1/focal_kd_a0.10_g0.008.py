# focal_kd sweep point alpha 0.10, beta 0.90 (= 1 - alpha), gamma 0.008: resnet32x4 -> shufflev1
# (grid and the values it inherits: ../README.md, ../../focal_kd_resnet32x4_shufflev1.py).
_base_ = ['../../focal_kd_resnet32x4_shufflev1.py']

model = dict(distill_losses=[dict(
    type='FocalCalibKDLoss', alpha=0.1, beta=0.9, gamma=0.008,
    temperature={{_base_.focal_kd.temperature}}, focal_gamma={{_base_.focal_kd.focal_gamma}})])
