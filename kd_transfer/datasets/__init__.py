"""Dataset readers mmdet / mmseg do not have, the synthetic data generator, the COCO ->
semantic-mask converter and layout checks. Datasets register in mmengine's root DATASETS
(``COCOSemSegDataset`` in mmseg's, when mmseg is installed)."""
from .cifar100 import CIFAR100Pickle
from .class_names import CIFAR100_COARSE, CIFAR100_FINE, COCO_CATEGORIES, VOC_CLASSES
from .cls_sample import ClsDataSample
from .coco_semseg import convert_coco_to_semseg, semseg_classes
from .imagenet import ImageFolderCls
from .layout import check_coco, check_voc, check_voc_annotation
from .synthetic import make_synthetic_data

__all__ = [
    'CIFAR100Pickle', 'ImageFolderCls', 'ClsDataSample', 'make_synthetic_data',
    'convert_coco_to_semseg', 'semseg_classes', 'check_voc', 'check_voc_annotation',
    'check_coco', 'VOC_CLASSES', 'COCO_CATEGORIES', 'CIFAR100_FINE', 'CIFAR100_COARSE'
]
