"""Top-k accuracy, expected calibration error and NLL for classification."""
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.registry import METRICS

ArrayLike = Union[np.ndarray, torch.Tensor, Sequence]


def _as_probs_and_labels(probs: ArrayLike, labels: ArrayLike):
    probs = torch.as_tensor(np.asarray(probs) if not isinstance(probs, torch.Tensor) else probs)
    labels = torch.as_tensor(
        np.asarray(labels) if not isinstance(labels, torch.Tensor) else labels)
    probs = probs.detach().cpu().to(torch.float64)
    labels = labels.detach().cpu().to(torch.long).reshape(-1)
    if probs.ndim != 2 or probs.shape[0] != labels.shape[0]:
        raise ValueError(f'probs must be N x K and labels N, got {tuple(probs.shape)} and '
                         f'{tuple(labels.shape)}')
    return probs, labels


def expected_calibration_error(probs: ArrayLike, labels: ArrayLike, n_bins: int = 15) -> float:
    """Expected calibration error with equal-width confidence bins over (0, 1].

    Confidence is the maximum probability and a prediction is correct when its argmax equals
    the label. Bin ``b`` holds the confidences in ``(b / n_bins, (b + 1) / n_bins]``;
    ``ECE = sum_b |B_b| / N * |acc(B_b) - conf(B_b)|`` over the non-empty bins.

    Args:
        probs (ArrayLike): ``N x K`` class probabilities.
        labels (ArrayLike): ``N`` true class indices.
        n_bins (int): Number of bins.

    Returns:
        float: The ECE in [0, 1] (NaN when N = 0).
    """
    if n_bins < 1:
        raise ValueError(f'n_bins must be >= 1, got {n_bins}')
    probs, labels = _as_probs_and_labels(probs, labels)
    n = probs.shape[0]
    if n == 0:
        return float('nan')
    conf, pred = probs.max(dim=1)
    correct = (pred == labels).to(torch.float64)
    inner_edges = torch.linspace(0, 1, n_bins + 1, dtype=torch.float64)[1:-1]
    # right=False: index i such that edge[i-1] < conf <= edge[i], i.e. bins closed on the right.
    bins = torch.bucketize(conf, inner_edges, right=False)
    count = torch.bincount(bins, minlength=n_bins).to(torch.float64)
    sum_conf = torch.zeros(n_bins, dtype=torch.float64).index_add_(0, bins, conf)
    sum_acc = torch.zeros(n_bins, dtype=torch.float64).index_add_(0, bins, correct)
    # sum_b |B_b|/N * |acc_b - conf_b| = sum_b |sum_acc_b - sum_conf_b| / N (empty bins add 0)
    return float((sum_acc - sum_conf).abs().sum() / n)


def _field(sample: Any, name: str) -> Any:
    if isinstance(sample, dict):
        if name not in sample:
            raise KeyError(f"data sample has no '{name}' (keys: {sorted(sample)})")
        return sample[name]
    if not hasattr(sample, name):
        raise KeyError(f"data sample {type(sample).__name__} has no '{name}'")
    return getattr(sample, name)


@METRICS.register_module()
class ClsCalibMetric(BaseMetric):
    """Top-k accuracy (percent), ECE and NLL of a classifier's predicted probabilities.

    Each data sample (a dict or a data element) must carry ``pred_score`` (a length-K vector
    of class *probabilities*, e.g. a softmax output) and ``gt_label`` (an int or a
    one-element tensor).

    Results (under the prefix ``cls``): ``top1``, ``top5`` in **percent** (one key per entry of
    ``topk``; a k larger than K counts every sample as correct), ``ece`` as a **fraction** in
    [0, 1] (15 equal-width bins by default, see :func:`expected_calibration_error`) and ``nll``
    (mean ``-log p_y``, nats). These logged units are kept so that existing work dirs and
    exported provenance stay comparable; the report shows ECE in percent like every other
    column (docs/report.md, "Units").

    Args:
        topk (Sequence[int]): The k of the reported top-k accuracies.
        n_bins (int): Bins of the ECE.
        prob_tol (float): Tolerance on ``sum_k p_k = 1`` and ``0 <= p_k <= 1``; scores outside
            it are refused (they are most likely logits).
        collect_device (str): Where results are gathered in distributed evaluation.
        prefix (str, optional): Prefix of the metric names. Defaults to ``'cls'``.
    """

    default_prefix: Optional[str] = 'cls'

    def __init__(self,
                 topk: Sequence[int] = (1, 5),
                 n_bins: int = 15,
                 prob_tol: float = 1e-2,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.topk = tuple(int(k) for k in ([topk] if isinstance(topk, int) else topk))
        if not self.topk or min(self.topk) < 1:
            raise ValueError(f'topk must be positive integers, got {topk}')
        if n_bins < 1:
            raise ValueError(f'n_bins must be >= 1, got {n_bins}')
        self.n_bins = int(n_bins)
        self.prob_tol = float(prob_tol)

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Keep ``pred_score`` and ``gt_label`` of every sample of the batch."""
        for sample in data_samples:
            score = torch.as_tensor(_field(sample, 'pred_score')).detach().cpu().float()
            label = torch.as_tensor(_field(sample, 'gt_label')).reshape(-1)
            if label.numel() != 1:
                raise ValueError(f'gt_label must hold one class index, got {label.tolist()}')
            result = dict(pred_score=score.reshape(-1), gt_label=int(label[0]))
            teacher = (sample.get('teacher_pred_score') if isinstance(sample, dict)
                       else getattr(sample, 'teacher_pred_score', None))
            if teacher is not None:  # a Distiller also predicts with its teacher
                result['teacher_pred_score'] = torch.as_tensor(teacher).detach().cpu().float().reshape(-1)
            self.results.append(result)

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Compute top-k, ECE and NLL over all collected results."""
        names = [f'top{k}' for k in self.topk] + ['ece', 'nll']
        if not results:
            return {name: float('nan') for name in names}
        probs = torch.stack([r['pred_score'] for r in results]).to(torch.float64)
        labels = torch.tensor([r['gt_label'] for r in results], dtype=torch.long)
        num_classes = probs.shape[1]
        if labels.min() < 0 or labels.max() >= num_classes:
            raise ValueError(f'gt_label must lie in [0, {num_classes}), got '
                             f'[{int(labels.min())}, {int(labels.max())}]')
        row_sum = probs.sum(dim=1)
        if (probs.min() < -self.prob_tol or probs.max() > 1 + self.prob_tol
                or (row_sum - 1).abs().max() > self.prob_tol):
            raise ValueError(
                'pred_score must hold class probabilities (a softmax output: entries in [0, 1] '
                f'summing to 1), got values in [{float(probs.min()):.4g}, '
                f'{float(probs.max()):.4g}] with row sums in [{float(row_sum.min()):.4g}, '
                f'{float(row_sum.max()):.4g}]; apply softmax to logits first')
        metrics = self._scores(probs, labels)
        if all('teacher_pred_score' in r for r in results):
            teacher = torch.stack([r['teacher_pred_score'] for r in results]).to(torch.float64)
            metrics.update({f'teacher_{k}': v for k, v in self._scores(teacher, labels).items()})
        return metrics

    def _scores(self, probs: torch.Tensor, labels: torch.Tensor) -> Dict[str, float]:
        """top-k, ECE and NLL of one set of predicted probabilities."""
        num_classes = probs.shape[1]
        metrics = {}
        for k in self.topk:
            top = probs.topk(min(k, num_classes), dim=1).indices
            metrics[f'top{k}'] = float((top == labels[:, None]).any(dim=1).double().mean() * 100)
        metrics['ece'] = expected_calibration_error(probs, labels, self.n_bins)
        p_true = probs.gather(1, labels[:, None]).squeeze(1).clamp_min(1e-12)
        metrics['nll'] = float(-p_true.log().mean())
        return metrics
