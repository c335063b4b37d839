# The total batch of mmseg's 4xb4 recipes (4 GPUs x 4 crops), which mmseg's configs do not
# record: tools/train.py (and `--auto-scale-lr` of upstream's train.py) scale the learning rate
# linearly from it to the real total batch (GPUs x batch_size).
auto_scale_lr = dict(enable=True, base_batch_size=16)
