# mobilenetv2_cifar trained alone on cifar100: a teacher, or the undistilled baseline of a student.
_base_ = ['../../_base_/cls/cifar100.py']

model = dict(type='KDClassifier', backbone=dict(type='CifarMobileNetV2'),
             data_preprocessor={{_base_.cifar_preprocessor}})

optim_wrapper = dict(optimizer=dict(lr=0.01))  # recipe lr for ShuffleNet / MobileNet students
