# focal_kd sweep point alpha 0.06, beta 0.94 (= 1 - alpha), gamma 0.006: resnet32x4 -> shufflev1
# (grid and the values it inherits: ../README.md, ../../focal_kd_resnet32x4_shufflev1.py).
_base_ = ['../../focal_kd_resnet32x4_shufflev1.py']

model = dict(distill_losses=[dict(
    type='FocalCalibKDLoss', alpha=0.06, beta=0.94, gamma=0.006,
    temperature={{_base_.focal_kd.temperature}}, focal_gamma={{_base_.focal_kd.focal_gamma}})])
