# gld: resnet50 -> mobilenetv1 on imagenet. No published GLD recipe for this pair: the values
# are the suite's own (the paper's CIFAR alpha 0.7, beta 500, div 2; adaptive pooling of the
# 7 x 7 map; CE 1 - alpha). Method notes: docs/methods.md.
_base_ = ['./_pairs/resnet50_mobilenetv1.py']  # teacher, student, schedule

model = dict(
    ce_weight=0.3,
    distill_losses=[dict(type='GLDLoss', alpha=0.7, beta=500, div=2, pool='adaptive')])
