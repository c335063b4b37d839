# wrn16_2 trained alone on cifar100: a teacher, or the undistilled baseline of a student.
_base_ = ['../../_base_/cls/cifar100.py']

model = dict(type='KDClassifier', backbone=dict(type='WideResNet', depth=16, widen_factor=2),
             data_preprocessor={{_base_.cifar_preprocessor}})
