# fitnets: resnet50 -> mobilenetv1 on imagenet. No published FitNets recipe for this pair: the
# values are the suite's own (CIFAR defaults: hint stage 2, i.e. 256 x 28 x 28 student map ->
# 512 x 28 x 28 teacher map through the public ConvReg, here a 1x1 conv; weight 100; CE 1).
# Method notes: docs/methods.md.
_base_ = ['./_pairs/resnet50_mobilenetv1.py']  # teacher, student, schedule

model = dict(
    ce_weight=1.0,
    distill_losses=[dict(type='FitNetsLoss', hint_layer=2, loss_weight=100)])
