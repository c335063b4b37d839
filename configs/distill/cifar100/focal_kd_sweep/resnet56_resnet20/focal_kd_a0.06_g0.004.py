# focal_kd sweep point alpha 0.06, beta 0.94 (= 1 - alpha), gamma 0.004: resnet56 -> resnet20
# (grid and the values it inherits: ../README.md, ../../focal_kd_resnet56_resnet20.py).
_base_ = ['../../focal_kd_resnet56_resnet20.py']

model = dict(distill_losses=[dict(
    type='FocalCalibKDLoss', alpha=0.06, beta=0.94, gamma=0.004,
    temperature={{_base_.focal_kd.temperature}}, focal_gamma={{_base_.focal_kd.focal_gamma}})])
