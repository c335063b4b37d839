# at: resnet50 -> mobilenetv1 on imagenet, the papers' pair (mdistiller
# configs/imagenet/r50_mv1/at.yaml with its AT defaults: p 2, weight 1000, CE 1).
# Stage pairs as mdistiller runs them: its AT zips the student's feats[1:] with the teacher's
# feats[1:]; its MobileNetV1 lists no stem, so the three student maps (strides 8/16/32) meet the
# teacher's layer1..layer3 (strides 4/8/16), the larger map pooled to the smaller. In this
# suite's indices: (student stage, teacher stage) = (2, 1), (3, 2), (4, 3). The published 69.56
# comes from this pairing; stages=None instead pairs stages of equal stride (the suite's own).
# Method notes: docs/methods.md.
_base_ = ['./_pairs/resnet50_mobilenetv1.py']  # teacher, student, schedule

model = dict(
    ce_weight=1.0,
    distill_losses=[dict(type='ATLoss', p=2, loss_weight=1000,
                         stages=[(2, 1), (3, 2), (4, 3)])])
