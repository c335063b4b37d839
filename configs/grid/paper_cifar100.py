# The papers' CIFAR-100 grid (RepDistiller / mdistiller pairs), every method on every pair at
# three seeds, then VOC07 / COCO transfer of the students that have transfer configs, a
# detector-level ReviewKD hook run, and the report.
#
#   python tools/grid.py configs/grid/paper_cifar100.py --dry-run
#   python tools/grid.py configs/grid/paper_cifar100.py --launcher dist --gpus 8
#   python tools/grid.py configs/grid/paper_cifar100.py --slurm slurm/paper_cifar100 --partition gpu
#
# Teachers: baseline_<teacher> trained once, at teacher_seed, and read by every student of that
# teacher through its final checkpoint (<work_dir>/final.pth). Undistilled students
# (baseline_<student>) and distilled students run at every seed; the transfer runs of a student
# use its seed. Schedules are the configs' own (240 epochs, lr steps 150/180/210).
#
# Transfer (configs/transfer/): only resnet20 and resnet8x4 of these students have transfer
# configs (resnet32, wrn16_2 and shufflev1 have none: their rows stay classification-only).
#   det_voc07  Faster R-CNN FPN, VOC2007 (resnet20, resnet8x4)
#   seg_voc07  DeepLabV3+, VOC2007 segmentation (resnet20, resnet8x4)
#   det_coco   Faster R-CNN FPN 1x, COCO2017 (resnet8x4)
#   seg_coco   DeepLabV3+, COCO masks in 80 classes (resnet8x4)
# GPUs per run as the upstream recipes' totals: CIFAR 1, detection 8 x 2 images, DeepLab 4 x 4.
work_root = 'work_dirs/grid/paper_cifar100'
seeds = [0, 1, 2]

classification = dict(
    config_dir='configs/distill/cifar100',
    methods=['kd', 'fitnets', 'at', 'dkd', 'reviewkd', 'gld', 'focal_kd'],
    pairs=[('resnet56', 'resnet20'), ('resnet110', 'resnet20'), ('resnet110', 'resnet32'),
           ('resnet32x4', 'resnet8x4'), ('wrn40_2', 'wrn16_2'), ('resnet32x4', 'shufflev1'),
           ('wrn40_2', 'shufflev1')],
    baselines=True,
    teacher_seed=0,
    gpus=1)

transfer = [
    dict(name='det_voc07', config='configs/transfer/det/faster-rcnn_{student}_fpn_voc07.py',
         students=['resnet20', 'resnet8x4'], gpus=8),
    dict(name='seg_voc07', config='configs/transfer/seg/deeplabv3plus_{student}_voc07.py',
         students=['resnet20', 'resnet8x4'], gpus=4),
    dict(name='det_coco', config='configs/transfer/det/faster-rcnn_{student}_fpn_1x_coco.py',
         students=['resnet8x4'], gpus=8),
    dict(name='seg_coco', config='configs/transfer/seg/deeplabv3plus_{student}_coco80.py',
         students=['resnet8x4'], gpus=4),
]

# ReviewKD at the detector level: a resnet56 Faster R-CNN (backbone: the exported resnet56
# teacher) teaches resnet20 Faster R-CNNs whose backbones are the undistilled resnet20 students.
hooks = [
    dict(name='hook_reviewkd_voc07',
         config='configs/reviewkd/faster-rcnn_resnet56-resnet20_fpn_voc07.py',
         teacher=dict(config='configs/transfer/det/faster-rcnn_resnet56_fpn_voc07.py',
                      backbone='baseline_resnet56', gpus=8),
         student_backbone='baseline_resnet20',
         gpus=8),
]

report = dict(note='CIFAR-100 students (240 epochs, 3 seeds), VOC2007 / COCO2017 transfer')
