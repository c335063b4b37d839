"""Safe checkpoint loading for mmengine 0.10.x, identical on torch 2.1 ... 2.14.

torch >= 2.6 unpickles with ``weights_only=True`` by default, and mmengine 0.10.7's Runner
checkpoints hold a few non-tensor objects (the message hub's ``HistoryBuffer`` and the numpy
arrays / scalars / dtypes inside it), so ``resume`` and ``load_from`` fail with an
``UnpicklingError``.  Instead of switching the process to unsafe loading, this module:

* allow-lists exactly those types: with :func:`torch.serialization.add_safe_globals` on
  torch >= 2.4; on older torch (2.1 - 2.3, which lack it and whose weights-only unpickler
  cannot rebuild plain Python objects at all) with :data:`RESTRICTED_PICKLE`, a pickle module
  whose ``Unpickler.find_class`` returns only torch's own weights-only globals plus the same
  allow-list, and refuses everything else (Python's documented "restricting globals");
* replaces mmengine's local-file checkpoint loader with :func:`load_checkpoint_file`, which
  always loads through one of those two restricted paths (never torch's unrestricted
  unpickler) and turns a refusal into an error that names the file and the object refused.

Anything else pickled in a checkpoint (a class, a function, ``os.system``...) is refused on
every supported torch. The functions here work on their own (kd_transfer's own loads use
the allow-list only for the duration of the call); importing :mod:`kd_transfer` also applies
them process-wide, through the ``safe_globals`` and ``safe_checkpoint_loader`` patches of
:mod:`kd_transfer.patches` (docs/patches.md), each of which can be switched off.
"""
import _compat_pickle
import contextlib
import os.path as osp
import pickle
import types
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer


def _numpy_globals() -> List[Union[Any, Tuple[Any, str]]]:
    """The numpy objects an mmengine checkpoint pickles, under numpy 1.x and 2.x names."""
    from numpy.lib.format import descr_to_dtype  # noqa: F401  (numpy always has it)
    try:  # numpy >= 2
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar
    allowed: List[Union[Any, Tuple[Any, str]]] = [np.ndarray, np.dtype]
    for obj in (_reconstruct, scalar):
        # A checkpoint written under numpy 1.x names ``numpy.core``, one written under
        # numpy 2.x names ``numpy._core``: accept both spellings of the same function.
        allowed.append((obj, f'numpy.core.multiarray.{obj.__name__}'))
        allowed.append((obj, f'numpy._core.multiarray.{obj.__name__}'))
    # numpy >= 1.25 pickles dtypes through their concrete DType classes
    # (numpy.dtypes.Float64DType, ...): plain type objects, no code runs on unpickling.
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        allowed += [getattr(dtypes, n) for n in dir(dtypes) if n.endswith('DType')]
    return allowed


def _history_buffer_getattr(owner: Any, name: str) -> Any:
    """The only ``getattr`` a checkpoint may call: a HistoryBuffer statistics method.

    A ``HistoryBuffer`` pickles its ``statistics_methods`` (``HistoryBuffer.min``, ...)
    as ``getattr(HistoryBuffer, 'min')``.  Allowing the builtin ``getattr`` would let a
    crafted file reach any attribute of any allowed object, so this stand-in accepts
    exactly those lookups and refuses everything else.
    """
    allowed = {'min', 'max', 'current', 'mean', *HistoryBuffer._statistics_methods}
    if owner is HistoryBuffer and isinstance(name, str) and name in allowed:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'getattr({getattr(owner, "__name__", type(owner).__name__)}, {name!r}) is not allowed '
        'in a checkpoint (only HistoryBuffer statistics methods are)')


def _safe_bytes(*args: Any) -> bytes:
    """Stand-in for ``builtins.bytes`` in a checkpoint.

    Pickle protocol 2 (torch's) writes an *empty* ``bytes`` as ``bytes()``; an empty numpy
    array (e.g. an unused ``HistoryBuffer``'s history) therefore names ``builtins.bytes``.
    Allowing the real ``bytes`` would also allow ``bytes(10**12)``; this accepts only a copy
    of bytes-like data or nothing.
    """
    if not args:
        return b''
    if len(args) == 1 and isinstance(args[0], (bytes, bytearray)):
        return bytes(args[0])
    raise pickle.UnpicklingError(f'bytes{args!r:.60} is not allowed in a checkpoint')


#: What mmengine's Runner stores besides tensors and builtin containers.
SAFE_GLOBALS = [HistoryBuffer, (_history_buffer_getattr, 'builtins.getattr'),
                (_safe_bytes, 'builtins.bytes')] + _numpy_globals()

#: torch >= 2.5 can extend its weights-only allow-list, also for one call (``safe_globals``);
#: older torch goes through :data:`RESTRICTED_PICKLE`.
HAS_SAFE_GLOBALS = all(hasattr(torch.serialization, name)
                       for name in ('add_safe_globals', 'get_safe_globals', 'safe_globals'))


def _allowed_by_name() -> Dict[str, Any]:
    """``'module.name' -> object``: torch's weights-only globals plus :data:`SAFE_GLOBALS`."""
    import codecs
    import collections

    from torch import _weights_only_unpickler as wou
    allowed = dict(wou._get_allowed_globals())
    # what torch 2.14 also allows and torch 2.1 does not list: numpy arrays pickle their raw
    # bytes through _codecs.encode (protocol 2); plain containers (mmengine's message hub
    # holds a Counter) and numbers
    allowed.update({'_codecs.encode': codecs.encode, 'builtins.set': set,
                    'collections.Counter': collections.Counter,
                    'builtins.frozenset': frozenset, 'builtins.bytearray': bytearray,
                    'builtins.complex': complex})
    for entry in SAFE_GLOBALS:
        obj, name = entry if isinstance(entry, tuple) else (
            entry, f'{entry.__module__}.{entry.__qualname__}')
        allowed[name] = obj
    return allowed


class RestrictedUnpickler(pickle.Unpickler):
    """A pickle ``Unpickler`` that resolves only allow-listed globals (torch < 2.4 path).

    Every global a pickle stream can reach (``GLOBAL``, ``STACK_GLOBAL``, ``EXT*``, ``INST``,
    ``OBJ``) goes through :meth:`find_class`, so a checkpoint can call or instantiate only
    what :func:`_allowed_by_name` lists: torch's tensor / storage rebuild functions, dtypes,
    ``OrderedDict``..., mmengine's ``HistoryBuffer`` and the numpy reconstruction helpers.
    """

    _allowed: Optional[Dict[str, Any]] = None

    def find_class(self, module: str, name: str) -> Any:
        if RestrictedUnpickler._allowed is None:
            RestrictedUnpickler._allowed = _allowed_by_name()
        # protocol-2 pickles (torch's) carry Python 2 names: __builtin__.getattr, ...
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        full = f'{module}.{name}'
        if full in RestrictedUnpickler._allowed:
            return RestrictedUnpickler._allowed[full]
        raise pickle.UnpicklingError(f'Unsupported global: GLOBAL {full} was not an allowed '
                                     'global by default.')


def _restricted_load(file: Any, **kwargs: Any) -> Any:
    return RestrictedUnpickler(file, **kwargs).load()


#: A pickle module for ``torch.load(pickle_module=...)`` that unpickles through
#: :class:`RestrictedUnpickler` (torch wraps its ``Unpickler`` and calls our ``find_class``).
RESTRICTED_PICKLE = types.ModuleType('kd_transfer_restricted_pickle')
RESTRICTED_PICKLE.Unpickler = RestrictedUnpickler
RESTRICTED_PICKLE.load = _restricted_load
RESTRICTED_PICKLE.UnpicklingError = pickle.UnpicklingError


def safe_torch_load(file: Any, map_location: Optional[Any] = None,
                    restricted: Optional[bool] = None) -> Any:
    """``torch.load`` that never runs torch's unrestricted unpickler.

    Args:
        file: Path or file object.
        map_location: As in :func:`torch.load`.
        restricted (bool, optional): Force the :data:`RESTRICTED_PICKLE` path (the only one
            on torch < 2.4). Default: torch's weights-only unpickler where it can be extended.

    Raises:
        pickle.UnpicklingError: A global outside the allow-list.
    """
    if restricted is None:
        restricted = not HAS_SAFE_GLOBALS
    if not restricted:
        with _scoped_safe_globals():
            return torch.load(file, map_location=map_location, weights_only=True)
    return torch.load(file, map_location=map_location, pickle_module=RESTRICTED_PICKLE,
                      weights_only=False)


def _scoped_safe_globals() -> Any:
    """Allow-list the :data:`SAFE_GLOBALS` torch does not know yet, for one ``with`` block.

    torch's ``safe_globals`` context removes its globals on exit, so only the missing ones
    are given to it: what the ``safe_globals`` patch registered process-wide stays.
    """
    known = torch.serialization.get_safe_globals()
    missing = [g for g in SAFE_GLOBALS if g not in known]
    return torch.serialization.safe_globals(missing) if missing else contextlib.nullcontext()


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint holds a pickled object outside the allow-list."""


def load_checkpoint_file(filename: str, map_location: Optional[Any] = None) -> Any:
    """``torch.load(filename, weights_only=True)`` with errors that say what is wrong.

    Args:
        filename (str): Path of the checkpoint file.
        map_location: As in :func:`torch.load`.

    Returns:
        The unpickled checkpoint (tensors, containers and the allow-listed types only).

    Raises:
        FileNotFoundError: ``filename`` does not exist.
        UnsafeCheckpointError: the file pickles an object outside the allow-list.
        RuntimeError: the file is truncated or not a torch checkpoint.
    """
    filename = osp.expanduser(str(filename))
    if not osp.isfile(filename):
        what = 'is a directory' if osp.isdir(filename) else 'does not exist'
        raise FileNotFoundError(f'checkpoint {filename!r} {what} (expected a file '
                                'written by torch.save)')
    try:
        return safe_torch_load(filename, map_location)
    except pickle.UnpicklingError as err:
        raise UnsafeCheckpointError(
            f'refusing to load checkpoint {filename!r}: it pickles an object that is not a '
            'tensor, a builtin container or one of the mmengine/numpy types kd_transfer '
            'allows, and unpickling it could run arbitrary code. torch said: '
            f'{_reason(err)}') from None
    except (RuntimeError, EOFError, ValueError, OSError) as err:
        raise RuntimeError(f'checkpoint {filename!r} cannot be read (truncated or not a torch '
                           f'checkpoint): {err}') from None


def _reason(err: Exception) -> str:
    """The informative lines of torch's (long, advice-laden) weights_only refusal message."""
    boilerplate = ('Weights only load failed', 'Check the documentation', 'Please file an issue',
                   'Re-running', '(1)', '(2)', 'In PyTorch 2.6')
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    keep = [ln.replace('WeightsUnpickler error:', '').strip() for ln in lines
            if not ln.startswith(boilerplate)]
    keep = [ln for ln in keep if ln]
    return ' '.join(keep) if keep else (lines[-1] if lines else repr(err))


def _mmengine_local_loader(filename: str, map_location: Optional[Any] = None) -> Any:
    """mmengine's local-file scheme, once the ``safe_checkpoint_loader`` patch is applied."""
    return load_checkpoint_file(filename, map_location)


def drop_executable_meta(checkpoint: Any, filename: Any = None) -> Any:
    """Remove ``meta['config']``: mmengine's ``Runner.resume`` runs it as Python.

    mmengine 0.10.7 reads the GPU ids of a resumed run with
    ``Config.fromstring(checkpoint['meta']['config'])``, which executes the text, so a
    checkpoint made only of strings and tensors could still run code on ``--resume``.
    mmengine itself stores its config under ``meta['cfg']`` (never executed); the legacy
    ``'config'`` key is dropped with a warning.
    """
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    if isinstance(meta, dict) and 'config' in meta:
        meta.pop('config')
        import warnings
        warnings.warn(f"checkpoint {filename!r}: ignored meta['config'] (Python text that "
                      "mmengine's resume would execute)")
    return checkpoint


__all__ = ['SAFE_GLOBALS', 'RESTRICTED_PICKLE', 'UnsafeCheckpointError', 'load_checkpoint_file',
           'safe_torch_load', 'drop_executable_meta']
