# mobilenetv1 trained alone on imagenet: the undistilled baseline of the ResNet-50 -> MobileNet
# pair (MobileNet V1 in the layout of the official ReviewKD code / mdistiller, whose published
# checkpoints load into it). Baseline published: 68.87 (official ReviewKD ImageNet README).
_base_ = ['../../_base_/cls/imagenet.py']

model = dict(type='KDClassifier', backbone=dict(type='MobileNetV1'),
             data_preprocessor={{_base_.imagenet_preprocessor}})
