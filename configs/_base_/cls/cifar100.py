# CIFAR-100 read from the standard python pickles (data/cifar100/cifar-100-python/{train,test,meta}),
# random crop 32 (pad 4) + horizontal flip; the RepDistiller / mdistiller recipe: SGD momentum 0.9,
# wd 5e-4, 240 epochs, lr x0.1 at 150/180/210, batch 64, lr 0.05.
_base_ = ['./runtime.py']

data_root = 'data/cifar100'
train_dataloader = dict(
    batch_size=64, num_workers=4, persistent_workers=True, pin_memory=True,
    collate_fn=dict(type='default_collate'),
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='CIFAR100Pickle', data_root=data_root, split='train'))
val_dataloader = dict(
    batch_size=256, num_workers=2, persistent_workers=True, pin_memory=True,
    collate_fn=dict(type='default_collate'),
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='CIFAR100Pickle', data_root=data_root, split='test'))
test_dataloader = val_dataloader
val_evaluator = dict(type='ClsCalibMetric')
test_evaluator = val_evaluator

train_cfg = dict(by_epoch=True, max_epochs=240, val_interval=1)
val_cfg = dict()
test_cfg = dict()
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=5e-4))
param_scheduler = [dict(type='MultiStepLR', by_epoch=True, milestones=[150, 180, 210], gamma=0.1)]
# lr 0.05 is the recipe's at a total batch of 64: at any other total batch (GPUs x batch_size)
# mmengine scales it linearly (tools/train.py prints the result; --no-auto-scale-lr keeps 0.05)
auto_scale_lr = dict(enable=True, base_batch_size=64)

cifar_preprocessor = dict(type='ImgDataPreprocessor',
                          mean=[129.304, 124.070, 112.434], std=[68.170, 65.392, 70.418],
                          non_blocking=True)
