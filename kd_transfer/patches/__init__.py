"""Every change kd_transfer makes to upstream libraries (mmengine, torch), in one place.

Importing :mod:`kd_transfer` calls :func:`apply_all` once: each patch checks the upstream
versions it was written for (a :class:`~.base.PatchVersionWarning` outside them), is applied
unless its environment variable switches it off, and one INFO line of mmengine's current
logger lists what was applied. The code that implements each behaviour stays with its
subject (:mod:`kd_transfer.fileio`, :mod:`kd_transfer.safe_load`,
:mod:`kd_transfer.pretrained_init`); this package is where it is *applied*. The table is in docs/patches.md.

======================  ============================  ====================================
patch                   switch off with               upstream versions written for
======================  ============================  ====================================
atomic_writes           KD_PATCH_ATOMIC_WRITES=0      mmengine >=0.10.0, <0.11
safe_globals            KD_PATCH_SAFE_GLOBALS=0       torch >=2.1, <2.15
safe_checkpoint_loader  KD_PATCH_SAFE_LOADER=0        mmengine >=0.10.0, <0.11 and
                                                      torch >=2.1, <2.15
strict_pretrained       KD_PATCH_STRICT_PRETRAINED=0  mmengine >=0.10.0, <0.11
======================  ============================  ====================================
"""
import sys
import time
from typing import List, Tuple

from . import atomic_writes, safe_load, strict_pretrained
from .base import OFF_VALUES, Patch, PatchVersionWarning

#: Every patch, in the order it is applied.
PATCHES: Tuple[Patch, ...] = (atomic_writes.PATCH, safe_load.GLOBALS, safe_load.LOADER,
                              strict_pretrained.PATCH)

_LOGGED = False


def apply_all() -> Tuple[List[Patch], List[Patch]]:
    """Apply every enabled patch (once) and log one line listing them.

    Returns:
        tuple[list[Patch], list[Patch]]: the applied patches and the switched-off ones.
    """
    global _LOGGED
    applied, off = [], []
    for patch in PATCHES:
        (applied if patch.apply() else off).append(patch)
    if not _LOGGED:
        _LOGGED = True
        log_line(applied, off)
    return applied, off


def describe(applied: List[Patch], off: List[Patch]) -> str:
    """The log line: ``kd_transfer: upstream patches applied: ...; switched off: ...``."""
    text = 'kd_transfer: upstream patches applied: ' + (
        ', '.join(p.label() for p in applied) or 'none')
    if off:
        text += '; switched off: ' + ', '.join(f'{p.name} ({p.env})' for p in off)
    return text + ' (docs/patches.md)'


def log_line(applied: List[Patch], off: List[Patch]) -> None:
    """Log :func:`describe` as one INFO line in mmengine's format, on stderr: stdout stays for
    what tools print (``tools/slurm_train.sh`` reads a number from a ``python -c``'s stdout)."""
    stamp = time.strftime('%m/%d %H:%M:%S')
    print(f'{stamp} - mmengine - INFO - {describe(applied, off)}', file=sys.stderr, flush=True)


def get(name: str) -> Patch:
    """The patch called ``name``."""
    for patch in PATCHES:
        if patch.name == name:
            return patch
    raise KeyError(f'no kd_transfer patch {name!r}; known: {[p.name for p in PATCHES]}')


__all__ = ['PATCHES', 'Patch', 'PatchVersionWarning', 'OFF_VALUES', 'apply_all', 'describe',
           'get']
