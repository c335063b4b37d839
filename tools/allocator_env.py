"""glibc malloc settings of CPU training runs (``KD_MALLOC``), applied before torch is imported.

On the CPU, glibc's default allocator returns every block above its (dynamic) mmap threshold
to the OS when it is freed, so a training step's large, short-lived activations are mmap-ed and
page-faulted afresh every step (ReviewKD on CIFAR measured 1.94x its lower bound with the
defaults, 1.59x with the settings below; docs/benchmarks.md). glibc reads its settings only
when a process starts, so :func:`reexec_with_steady_malloc` sets

    MALLOC_MMAP_THRESHOLD_=33554432   (32 MiB: glibc ignores values above 32 MiB on 64-bit)
    MALLOC_TRIM_THRESHOLD_=1073741824 (keep up to 1 GiB of freed heap instead of trimming it)

and re-executes the process once (the first thing tools/train.py does, so before any heavy
import; every process started by tools/dist_train.sh or tools/slurm_train.sh goes through it).

* Only CPU runs: ``KD_DEVICE=cpu``, or no ``/dev/nvidia*`` device on the machine.
* ``KD_MALLOC=default`` keeps glibc's defaults; a ``MALLOC_*_THRESHOLD_`` variable already set
  in the environment is kept as it is (nothing is re-executed).
"""
import glob
import os
import sys
from typing import Dict, Mapping, Optional

STEADY = {'MALLOC_MMAP_THRESHOLD_': str(32 * 2**20), 'MALLOC_TRIM_THRESHOLD_': str(2**30)}


def steady_malloc_env(environ: Mapping[str, str], has_gpu: Optional[bool] = None
                      ) -> Dict[str, str]:
    """The variables to add to ``environ`` (empty: nothing to change).

    Raises:
        ValueError: ``KD_MALLOC`` is neither ``steady`` nor ``default``.
    """
    mode = environ.get('KD_MALLOC', 'steady').lower()
    if mode not in ('steady', 'default'):
        raise ValueError(f"KD_MALLOC must be 'steady' or 'default', got {mode!r}")
    if has_gpu is None:
        has_gpu = bool(glob.glob('/dev/nvidia[0-9]*'))
    cpu_run = environ.get('KD_DEVICE', '').lower() == 'cpu' or not has_gpu
    if mode == 'default' or not cpu_run or not sys.platform.startswith('linux') \
            or any(k in environ for k in STEADY):
        return {}
    return dict(STEADY)


def reexec_with_steady_malloc() -> None:
    """Re-execute this process with :func:`steady_malloc_env` added (at most once)."""
    extra = steady_malloc_env(os.environ)
    if extra:
        os.environ.update(extra)
        # the command line as started (a wrapper that runs this script through runpy, such as
        # a test's, is re-executed too); sys.argv alone would drop such a wrapper
        argv = list(getattr(sys, 'orig_argv', None) or [sys.executable] + sys.argv)
        os.execv(sys.executable, argv)
