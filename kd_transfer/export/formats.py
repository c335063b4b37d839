"""The source layouts the exporter knows and its error type."""
from typing import Dict, Tuple

SOURCE_FORMATS = ('kd_transfer', 'torchvision', 'mdistiller', 'repdistiller')

#: Architecture types that are ImageNet models with torchvision parameter names.
IMAGENET_TYPES = ('TVResNet', 'TVMobileNetV2')

#: Source formats whose parameter names equal kd_transfer's, per architecture type.
#: kd_transfer's architectures reproduce the upstream layouts (CIFAR models: RepDistiller's
#: ``models/*.py``, which mdistiller copied; ImageNet models: torchvision's, which mdistiller's
#: ImageNet ResNets use too), so no key is renamed; the comments give the upstream module names,
#: checked against our architectures when this table was written (tests/test_export spells
#: RepDistiller's resnet8x4 keys out by hand). An architecture whose upstream names differ needs
#: a rename step before it is listed here.
SOURCE_LAYOUTS: Dict[str, Tuple[str, ...]] = {
    # conv1 bn1 layer{1,2,3}.<i>.{conv,bn}{1,2} layer<k>.0.downsample.{0,1} fc
    'CifarResNet': ('repdistiller', 'mdistiller'),
    # conv1 block{1,2,3}.layer.<i>.{bn1,conv1,bn2,conv2,convShortcut} bn1 fc
    'WideResNet': ('repdistiller', 'mdistiller'),
    # conv1 bn1 layer{1,2,3}.<i>.{conv,bn}{1,2,3} linear
    'ShuffleNetV1': ('repdistiller', 'mdistiller'),
    # conv1 bn1 layer{1,2,3}.<i>.{conv,bn}{1..5} conv2 bn2 linear
    'ShuffleNetV2': ('repdistiller', 'mdistiller'),
    # conv1.{0,1} blocks.<s>.<i>.conv.{0..7} conv2.{0,1} classifier.0
    'CifarMobileNetV2': ('repdistiller', 'mdistiller'),
    # conv1 bn1 layer{1..4}.<i>.{conv,bn}{1,2[,3]} layer<k>.0.downsample.{0,1} fc
    'TVResNet': ('torchvision', 'mdistiller'),
    # features.<i>... classifier.1
    'TVMobileNetV2': ('torchvision', ),
    # model.<i>.<j> fc (the official ReviewKD code's ImageNet MobileNet = mdistiller's V1)
    'MobileNetV1': ('mdistiller', ),
}


class ExportError(ValueError):
    """The source cannot be exported (unknown layout, wrong architecture, bad file...)."""
