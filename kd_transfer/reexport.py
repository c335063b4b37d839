"""Re-exporting an exported backbone keeps its provenance.

An exported backbone (``tools/export_backbone.py``'s output) is a plain state dict with
``meta['kd_transfer']``; given to the exporter again (to another path, or after a copy) it
would otherwise be taken for a RepDistiller state dict: its method, teacher and seed lost, and
the RepDistiller CIFAR-100 statistics recorded as its normalisation. Here the earlier record
is carried over (explicit ``--method`` / ``--teacher`` / ``--mean`` / ``--std`` still win), with
``reexported_from`` naming the file re-exported; ``source`` / ``source_sha256`` keep naming
the training checkpoint, so the report still identifies the student by it.
"""
from typing import Any, Dict, Optional, Sequence, Tuple

#: Provenance fields taken from the earlier export (unless given explicitly).
CARRIED = ('method', 'teacher', 'seed', 'top1', 'ece', 'work_dir', 'source', 'source_format',
           'source_sha256')


def previous_provenance(meta: Any) -> Optional[Dict[str, Any]]:
    """``meta['kd_transfer']`` of a source checkpoint that is itself an export, else None."""
    prov = meta.get('kd_transfer') if isinstance(meta, dict) else None
    return dict(prov) if isinstance(prov, dict) and prov.get('arch') else None


def previous_normalisation(prev: Optional[dict], mean: Optional[Sequence[float]],
                           std: Optional[Sequence[float]], channel_order: str
                           ) -> Tuple[Optional[Sequence[float]], Optional[Sequence[float]], str]:
    """``(mean, std, channel_order)`` for the exporter: the explicit ones, else the earlier
    export's record."""
    norm = (prev or {}).get('normalisation')
    if mean is not None or std is not None or not isinstance(norm, dict):
        return mean, std, channel_order
    return norm.get('mean'), norm.get('std'), norm.get('channel_order', 'RGB')


def carry_over(provenance: Dict[str, Any], prev: Optional[dict], src: str,
               method: Optional[str], teacher: Optional[str], norm_given: bool) -> None:
    """Fill ``provenance`` (the new export's, changed in place) from ``prev``.

    Args:
        norm_given (bool): ``--mean`` / ``--std`` were given (they win over the earlier record).

    Raises:
        ValueError: The earlier export names another architecture than the weights match.
    """
    if prev is None:
        return
    if prev['arch'] != provenance['arch']:
        raise ValueError(f'{src!r} is an exported {prev["arch"]} backbone, but its weights were '
                         f'matched as {provenance["arch"]}; pass --arch {prev["arch"]}')
    explicit = {'method': method, 'teacher': teacher}
    for key in CARRIED:
        if explicit.get(key) is None and key in prev:
            provenance[key] = prev[key]
    if not norm_given and isinstance(prev.get('normalisation'), dict):
        provenance['normalisation'] = dict(prev['normalisation'])
    provenance['reexported_from'] = src


__all__ = ['CARRIED', 'carry_over', 'previous_normalisation', 'previous_provenance']
