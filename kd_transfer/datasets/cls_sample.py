"""The data sample of the classification datasets."""
from typing import Sequence, Union

import numpy as np
import torch
from mmengine.structures import BaseDataElement

LabelLike = Union[int, Sequence[int], np.ndarray, torch.Tensor]


def _to_label_tensor(value: LabelLike) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        label = value.to(torch.long).reshape(-1)
    elif isinstance(value, (int, np.integer)):
        label = torch.tensor([int(value)], dtype=torch.long)
    else:
        label = torch.as_tensor(np.asarray(value), dtype=torch.long).reshape(-1)
    return label


class ClsDataSample(BaseDataElement):
    """One classification sample: ``gt_label`` and, after inference, ``pred_score``.

    Fields (all optional, data fields of the :class:`~mmengine.structures.BaseDataElement`):

    * ``gt_label`` (``torch.LongTensor`` of shape ``[1]``): the class index;
    * ``pred_score`` (``torch.Tensor`` of shape ``[K]``): class probabilities;
    * ``pred_label`` (``torch.LongTensor`` of shape ``[1]``): the predicted class.

    Assigning an int, a sequence or an array to ``gt_label`` / ``pred_label`` stores it as a
    1-D LongTensor.

    Examples:
        >>> sample = ClsDataSample(gt_label=3)
        >>> sample.gt_label
        tensor([3])
    """

    @property
    def gt_label(self) -> torch.Tensor:
        return self._gt_label

    @gt_label.setter
    def gt_label(self, value: LabelLike) -> None:
        self.set_field(_to_label_tensor(value), '_gt_label', dtype=torch.Tensor)

    @gt_label.deleter
    def gt_label(self) -> None:
        del self._gt_label

    @property
    def pred_label(self) -> torch.Tensor:
        return self._pred_label

    @pred_label.setter
    def pred_label(self, value: LabelLike) -> None:
        self.set_field(_to_label_tensor(value), '_pred_label', dtype=torch.Tensor)

    @pred_label.deleter
    def pred_label(self) -> None:
        del self._pred_label

    @property
    def pred_score(self) -> torch.Tensor:
        return self._pred_score

    @pred_score.setter
    def pred_score(self, value: Union[np.ndarray, torch.Tensor]) -> None:
        self.set_field(torch.as_tensor(value), '_pred_score', dtype=torch.Tensor)

    @pred_score.deleter
    def pred_score(self) -> None:
        del self._pred_score

    def set_gt_label(self, value: LabelLike) -> 'ClsDataSample':
        """Set ``gt_label`` and return ``self`` (for chaining)."""
        self.gt_label = value
        return self

    def set_pred_score(self, value: Union[np.ndarray, torch.Tensor]) -> 'ClsDataSample':
        """Set ``pred_score`` (probabilities) and ``pred_label`` (its argmax); return ``self``."""
        self.pred_score = value
        self.pred_label = self.pred_score.argmax(dim=-1, keepdim=True)
        return self
