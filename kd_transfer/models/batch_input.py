"""Batch-level input handling of the Distiller: one copy to the device, one normalisation.

* :class:`InputsToDevice` (the Distiller's own ``data_preprocessor``) moves only the image
  batch to the device, with ``non_blocking`` copies (asynchronous from pinned memory: the
  classification dataloaders set ``pin_memory=True``); the data samples stay on the host and
  the labels are gathered from them into one tensor moved once
  (:func:`~kd_transfer.models.classifier.gt_labels`), instead of one copy per sample.
* :func:`same_normalisation` tells whether the teacher's preprocessor would produce exactly
  the student's input, so the Distiller normalises the uint8 batch once and feeds it to both.
"""
from typing import Optional

import torch
from mmengine.model import BaseDataPreprocessor, ImgDataPreprocessor
from mmengine.registry import MODELS


@MODELS.register_module()
class InputsToDevice(BaseDataPreprocessor):
    """Move ``data['inputs']`` to the model's device; leave ``data_samples`` where they are.

    Args:
        non_blocking (bool): asynchronous host-to-device copies. Defaults to True.
    """

    def __init__(self, non_blocking: bool = True) -> None:
        super().__init__(non_blocking=non_blocking)

    def forward(self, data: dict, training: bool = False) -> dict:
        """Return a shallow copy of ``data`` whose ``inputs`` are on the device."""
        out = dict(data)
        out['inputs'] = self.cast_data(data['inputs'])
        return out


def _buffer(pre: ImgDataPreprocessor, name: str) -> Optional[torch.Tensor]:
    return getattr(pre, name, None) if getattr(pre, '_enable_normalize', False) else None


def same_normalisation(a, b) -> bool:
    """True when the two preprocessors turn the same raw batch into the same tensor.

    Only plain mmengine ``ImgDataPreprocessor`` instances are compared (a subclass may do
    more, e.g. batch augmentation): same channel conversion, padding, and mean / std.
    """
    if type(a) is not ImgDataPreprocessor or type(b) is not ImgDataPreprocessor:
        return False
    if (a._channel_conversion, a.pad_size_divisor, a.pad_value) != \
            (b._channel_conversion, b.pad_size_divisor, b.pad_value):
        return False
    if a._enable_normalize != b._enable_normalize:
        return False
    for name in ('mean', 'std'):
        x, y = _buffer(a, name), _buffer(b, name)
        if (x is None) != (y is None) or (x is not None and not torch.equal(x, y)):
            return False
    return True
