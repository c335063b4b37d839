# resnet18 trained alone on imagenet: a teacher, or the undistilled baseline of a student.
_base_ = ['../../_base_/cls/imagenet.py']

model = dict(type='KDClassifier', backbone=dict(type='TVResNet', depth=18),
             data_preprocessor={{_base_.imagenet_preprocessor}})
