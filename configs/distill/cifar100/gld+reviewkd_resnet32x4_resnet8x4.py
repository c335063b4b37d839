# Methods combine: GLD (logits) + ReviewKD (features), resnet32x4 -> resnet8x4 on CIFAR-100.
# The CE weight is GLD's (1 - alpha); each loss keeps its own defaults (docs/methods.md).
_base_ = ['./gld_resnet32x4_resnet8x4.py']

model = dict(distill_losses=[
    dict(type='GLDLoss', alpha=0.7, beta=500, div=2, pool='fixed'),
    dict(type='ReviewKDLoss', loss_weight=5.0, warmup=20)])
