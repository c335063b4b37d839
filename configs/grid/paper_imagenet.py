# The papers' ImageNet grid: ResNet-34 -> ResNet-18 and ResNet-50 -> MobileNetV2, every method
# at three seeds, VOC07 / COCO transfer of both students, detector-level ReviewKD hook runs,
# and the report.
#
#   python tools/grid.py configs/grid/paper_imagenet.py --dry-run
#   python tools/grid.py configs/grid/paper_imagenet.py --slurm slurm/paper_imagenet --partition gpu
#
# Teachers are torchvision's ImageNet weights, as in the papers' public code (no teacher job):
# put them at the paths below (or change them). Schedules are the configs' own (100 epochs,
# 8 GPUs x 32 images for classification).
#
# Transfer (configs/transfer/), for resnet18 and mobilenetv2:
#   det_voc07  Faster R-CNN FPN, VOC2007           det_coco  Faster R-CNN FPN 1x, COCO2017
#   seg_voc07  DeepLabV3+, VOC2007 segmentation    seg_coco  DeepLabV3+, COCO masks, 80 classes
# Hook runs (configs/reviewkd/): Faster R-CNN R-101 -> R-18 on VOC2007 (the R-101 teacher is
# trained first, from torchvision's ResNet-101) and on COCO (mmdet's model-zoo R-101 detector);
# the R-18 students start from the exported undistilled resnet18 of the same seed.
work_root = 'work_dirs/grid/paper_imagenet'
seeds = [0, 1, 2]

classification = dict(
    config_dir='configs/distill/imagenet',
    methods=['kd', 'fitnets', 'at', 'dkd', 'reviewkd', 'gld', 'focal_kd'],
    pairs=[('resnet34', 'resnet18'), ('resnet50', 'mobilenetv2')],
    baselines=True,
    teacher_checkpoints=dict(resnet34='checkpoints/imagenet/resnet34-b627a593.pth',
                             resnet50='checkpoints/imagenet/resnet50-0676ba61.pth'),
    gpus=8)

_students = ['resnet18', 'mobilenetv2']
transfer = [
    dict(name='det_voc07', config='configs/transfer/det/faster-rcnn_{student}_fpn_voc07.py',
         students=_students, gpus=8),
    dict(name='seg_voc07', config='configs/transfer/seg/deeplabv3plus_{student}_voc07.py',
         students=_students, gpus=4),
    dict(name='det_coco', config='configs/transfer/det/faster-rcnn_{student}_fpn_1x_coco.py',
         students=_students, gpus=8),
    dict(name='seg_coco', config='configs/transfer/seg/deeplabv3plus_{student}_coco80.py',
         students=_students, gpus=4),
]

hooks = [
    dict(name='hook_reviewkd_voc07',
         config='configs/reviewkd/faster-rcnn_r101-r18_fpn_1x_voc2007.py',
         teacher=dict(config='configs/reviewkd/faster-rcnn_r101_fpn_1x_voc2007.py', gpus=8),
         student_backbone='baseline_resnet18',
         gpus=8),
    dict(name='hook_reviewkd_coco',
         config='configs/reviewkd/faster-rcnn_r101-r18_fpn_1x_coco.py',
         teacher=dict(checkpoint='checkpoints/faster_rcnn_r101_fpn_1x_coco_20200130-f513f705.pth'),
         student_backbone='baseline_resnet18',
         gpus=8),
]

report = dict(note='ImageNet students (100 epochs, 3 seeds), VOC2007 / COCO2017 transfer')
