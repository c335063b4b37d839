# focal_kd sweep point alpha 0.02, beta 0.98 (= 1 - alpha), gamma 0.001: resnet56 -> resnet20
# (grid and the values it inherits: ../README.md, ../../focal_kd_resnet56_resnet20.py).
_base_ = ['../../focal_kd_resnet56_resnet20.py']

model = dict(distill_losses=[dict(
    type='FocalCalibKDLoss', alpha=0.02, beta=0.98, gamma=0.001,
    temperature={{_base_.focal_kd.temperature}}, focal_gamma={{_base_.focal_kd.focal_gamma}})])
