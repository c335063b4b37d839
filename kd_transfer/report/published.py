"""The published top-1 beside each measured classification row of the report.

:mod:`kd_transfer.published` holds the papers' / public repositories' numbers; this module
picks the one that matches a report row (dataset of its classification runs, teacher, student,
method; a row without a teacher is an architecture trained alone) and flags a gap larger than
:data:`GAP_FLAG` points.
"""
from typing import Optional

from ..published import cls_dataset_name, published_alone_top1, published_entry

#: |measured - published| (points of top-1) above which the report flags a row.
GAP_FLAG = 1.0


def cls_dataset_of(cfg: dict) -> Optional[str]:
    """``'cifar100'`` / ``'imagenet'`` from a classification config's training dataset."""
    dataset = ((cfg.get('train_dataloader') or {}).get('dataset') or {})
    return cls_dataset_name(dataset.get('type') if isinstance(dataset, dict) else None)


def published_for(row) -> Optional[dict]:
    """``{'top1', 'source', 'gap', 'flag'}`` for a report row, or None when nothing is published.

    Args:
        row: A :class:`kd_transfer.report.Row` (``arch``, ``method``, ``teacher``, ``runs``,
            ``mean('top1')``).
    """
    datasets = {r.dataset for r in row.runs if r.task == 'cls' and r.dataset}
    if len(datasets) != 1:
        return None
    dataset = datasets.pop()
    if row.teacher is None:
        value = published_alone_top1(dataset, row.arch)
        source = 'teacher / baseline rows of the published tables'
    else:
        entry = published_entry(dataset, row.teacher, row.arch, row.method)
        value, source = (None, None) if entry is None else (entry.top1, entry.source)
    if value is None:
        return None
    measured = row.mean('top1')
    gap = None if measured is None else measured - value
    return dict(top1=value, source=source, gap=gap,
                flag=gap is not None and abs(gap) > GAP_FLAG)


def published_text(info: Optional[dict]) -> str:
    """Markdown cell: ``75.63 (-0.41)``, with ``⚠`` when the gap exceeds :data:`GAP_FLAG`."""
    if info is None:
        return '—'
    if info['gap'] is None:
        return f"{info['top1']:.2f}"
    return f"{info['top1']:.2f} ({info['gap']:+.2f}{' ⚠' if info['flag'] else ''})"
