# focal_kd: resnet50 -> mobilenetv1 on imagenet. No published focal-calibration KD recipe for
# ImageNet: the values are the suite's own (alpha 0.1, beta 0.9, gamma 0.01 from the paper's CIFAR
# sweep range, focal g 3, T 1 as the ImageNet KD recipe). Method notes: docs/methods.md.
_base_ = ['./_pairs/resnet50_mobilenetv1.py']  # teacher, student, schedule

model = dict(
    ce_weight=0.0,
    distill_losses=[dict(type='FocalCalibKDLoss', alpha=0.1, beta=0.9, gamma=0.01, temperature=1,
                         focal_gamma=3.0)])
