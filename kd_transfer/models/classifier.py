"""A plain image classifier: one kd_transfer architecture + cross-entropy."""
from typing import List, Optional, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.registry import MODELS

#: CIFAR-100 statistics on the 0-255 scale (the RepDistiller / mdistiller normalisation).
CIFAR100_MEAN = [129.304, 124.070, 112.434]
CIFAR100_STD = [68.170, 65.392, 70.418]


def gt_labels(data_samples: list, device: torch.device) -> torch.Tensor:
    """Stack ``gt_label`` of a batch of samples into a LongTensor of shape (B,)."""
    labels = []
    for i, sample in enumerate(data_samples):
        label = sample.get('gt_label', None) if isinstance(sample, dict) else \
            getattr(sample, 'gt_label', None)
        if label is None:
            raise KeyError(f'data sample {i} of the batch has no gt_label')
        labels.append(torch.as_tensor(label).reshape(-1)[:1])
    return torch.cat(labels).long().to(device)


@MODELS.register_module()
class KDClassifier(BaseModel):
    """An architecture from :mod:`kd_transfer.models` trained with cross-entropy.

    Args:
        backbone (dict): Config of the architecture, e.g. ``dict(type='CifarResNet', depth=20)``.
            Its state-dict keys appear under ``backbone.`` in checkpoints.
        data_preprocessor (dict, optional): mmengine ``ImgDataPreprocessor`` config; the
            default normalises with CIFAR-100 statistics.
        label_smoothing (float): Label smoothing of the cross-entropy. Defaults to 0.
        init_cfg (dict, optional): mmengine initialisation config.
    """

    def __init__(self,
                 backbone: dict,
                 data_preprocessor: Optional[dict] = None,
                 label_smoothing: float = 0.0,
                 init_cfg: Optional[dict] = None):
        if data_preprocessor is None:
            data_preprocessor = dict(type='ImgDataPreprocessor', mean=CIFAR100_MEAN, std=CIFAR100_STD)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.label_smoothing = label_smoothing

    @property
    def classifier(self) -> torch.nn.Module:
        """The final linear layer of the architecture."""
        return self.backbone.classifier

    def forward(self,
                inputs: torch.Tensor,
                data_samples: Optional[list] = None,
                mode: str = 'tensor') -> Union[dict, list, torch.Tensor]:
        """mmengine's three modes: ``'tensor'`` (logits), ``'loss'`` and ``'predict'``."""
        logits = self.backbone(inputs)
        if mode == 'tensor':
            return logits
        if mode == 'loss':
            labels = gt_labels(data_samples, logits.device)
            return dict(loss_ce=F.cross_entropy(logits, labels, label_smoothing=self.label_smoothing))
        if mode == 'predict':
            return attach_predictions(logits, data_samples)
        raise ValueError(f"mode must be 'tensor', 'loss' or 'predict', got {mode!r}")


def attach_predictions(logits: torch.Tensor, data_samples: Optional[list],
                       field: str = 'pred_score') -> List:
    """Store softmax probabilities (and the argmax label) in each data sample."""
    from kd_transfer.datasets.cls_sample import ClsDataSample
    probs = logits.float().softmax(dim=1).detach()
    if data_samples is None:
        data_samples = [ClsDataSample() for _ in range(len(probs))]
    for sample, p in zip(data_samples, probs):
        sample.set_field(p, field) if hasattr(sample, 'set_field') else sample.__setitem__(field, p)
        if field == 'pred_score':
            label = p.argmax().reshape(1)
            sample.set_field(label, 'pred_label') if hasattr(sample, 'set_field') else \
                sample.__setitem__('pred_label', label)
    return data_samples
