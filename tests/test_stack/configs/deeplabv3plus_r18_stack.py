# mmseg's own DeepLabV3+ R-18 config, inherited across scopes.
_base_ = 'mmseg::deeplabv3plus/deeplabv3plus_r18-d8_4xb2-80k_cityscapes-512x1024.py'
model = dict(pretrained=None, backbone=dict(init_cfg=None),
             data_preprocessor=dict(size=(64, 64)),
             decode_head=dict(num_classes=4), auxiliary_head=dict(num_classes=4))
