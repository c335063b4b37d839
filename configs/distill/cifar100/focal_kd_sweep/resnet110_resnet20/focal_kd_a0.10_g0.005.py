# focal_kd sweep point alpha 0.10, beta 0.90 (= 1 - alpha), gamma 0.005: resnet110 -> resnet20
# (grid and the values it inherits: ../README.md, ../../focal_kd_resnet110_resnet20.py).
_base_ = ['../../focal_kd_resnet110_resnet20.py']

model = dict(distill_losses=[dict(
    type='FocalCalibKDLoss', alpha=0.1, beta=0.9, gamma=0.005,
    temperature={{_base_.focal_kd.temperature}}, focal_gamma={{_base_.focal_kd.focal_gamma}})])
