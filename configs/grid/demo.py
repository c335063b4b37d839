# The demo's pipeline as a grid (what `make demo` runs, kd_transfer/demo.py), at three seeds:
# generated "shapes" data, a resnet56 teacher, the resnet20 baseline and resnet20 students
# distilled with KD, GLD and ReviewKD, their exported backbones in Faster R-CNN (VOC2007 format)
# and DeepLabV3+ (VOC2007 segmentation), a ReviewKD hook run from a resnet56 Faster R-CNN
# teacher, and the report.
#
#   python tools/grid.py configs/grid/demo.py [--work-root demo_out]
#
# Same config files as on a GPU node; data location, epochs / iterations, image sizes and loader
# settings are shrunk by the transforms of kd_transfer/grid/derive.py (short_cls: 4 epochs,
# batch 64; tiny_transfer: kd_transfer/tiny.py's overrides, 80 iterations, 128-pixel images,
# validation on 40 images). These numbers show that the pipeline runs; they say nothing about
# the value of a distillation method.
work_root = 'demo_out/grid'
seeds = [0, 1, 2]

_data = '{work_root}/data'
setup = [
    dict(name='data',
         argv=['{python}', '{repo}/tools/make_synthetic_data.py', _data, '--seed', '0',
               '--num-train', '160', '--num-val', '40', '--image-size', '128',
               '--cifar-train', '2000', '--cifar-test', '500', '--force'],
         outputs=[_data + '/cifar100/cifar-100-python/train', _data + '/VOCdevkit/VOC2007']),
]

classification = dict(
    config_dir='configs/distill/cifar100',
    methods=['kd', 'gld', 'reviewkd'],
    pairs=[('resnet56', 'resnet20')],
    teacher_seed=0,
    derive=dict(type='short_cls', data_root=_data + '/cifar100', epochs=4, batch=64))

_tiny = dict(type='tiny_transfer', data_root=_data, image_size=128, max_iters=80, num_val=40,
             warmup_iters=20)
_det = dict(_tiny, lr=0.02, rcnn_samples=128)
_seg = dict(_tiny, lr=0.01)
transfer = [
    dict(name='det_voc07', config='configs/transfer/det/faster-rcnn_{student}_fpn_voc07.py',
         students=['resnet20'], derive=_det),
    dict(name='seg_voc07', config='configs/transfer/seg/deeplabv3plus_{student}_voc07.py',
         students=['resnet20'], derive=_seg),
]

hooks = [
    dict(name='hook_reviewkd_voc07',
         config='configs/reviewkd/faster-rcnn_resnet56-resnet20_fpn_voc07.py',
         teacher=dict(config='configs/transfer/det/faster-rcnn_resnet56_fpn_voc07.py',
                      backbone='baseline_resnet56', derive=_det),
         student_backbone='baseline_resnet20',
         derive=_det),
]

report = dict(note='Generated "shapes" data (tools/make_synthetic_data.py) and tiny CPU '
              'schedules (configs/grid/demo.py): these numbers show that the pipeline runs end '
              'to end, they say nothing about the value of any distillation method.')
