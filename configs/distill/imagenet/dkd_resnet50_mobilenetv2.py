# dkd: resnet50 -> mobilenetv2 on imagenet (hyper-parameters and sources: docs/methods.md).
# ResNet-50 -> MobileNetV2 (torchvision layout) is the suite's own setting, not a paper pair: the
# papers' ImageNet pair is ResNet-50 -> MobileNet V1 (*_resnet50_mobilenetv1.py); the
# hyper-parameters below are carried over from that pair's recipe (DKD beta 2.0, ReviewKD mid
# 256 / weight 8; FitNets / GLD / focal KD: the suite's own) and have no
# published number to compare with.
_base_ = ['./_pairs/resnet50_mobilenetv2.py']  # teacher, student, schedule

model = dict(
    ce_weight=1.0,
    distill_losses=[dict(type='DKDLoss', alpha=1.0, beta=2.0, temperature=1, warmup=1)])
