"""Atomic file writes, and mmengine's local checkpoint writes made atomic.

mmengine 0.10.7 saves a checkpoint with ``LocalBackend.put``: ``open(path, 'wb')`` then write.
A job killed during that write (pre-emption, OOM, Ctrl-C) leaves a truncated ``epoch_N.pth``
and, worse, a truncated ``last_checkpoint`` pointer.  :func:`install` routes both writes
through :func:`atomic_write`: the bytes go to a temporary file in the same directory, are
flushed to disk, and replace the target with ``os.replace`` (atomic on POSIX), so a reader
sees the old file or the new one, never half of one.
"""
import io
import os
import tempfile
from pathlib import Path
from typing import Any, Union

PathLike = Union[str, os.PathLike]


def atomic_write(path: PathLike, data: Union[bytes, str], encoding: str = 'utf-8') -> None:
    """Write ``data`` to ``path`` atomically (temporary file + fsync + ``os.replace``).

    Args:
        path (str | PathLike): Destination; its directory is created when missing.
        data (bytes | str): Content; ``str`` is encoded with ``encoding``.
        encoding (str): Text encoding. Defaults to utf-8.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode(encoding)
    fd, tmp = tempfile.mkstemp(prefix=f'.{path.name}.', suffix='.tmp', dir=path.parent)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_torch_save(obj: Any, path: PathLike) -> None:
    """``torch.save(obj)`` to ``path`` atomically."""
    import torch
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write(path, buffer.getvalue())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_INSTALLED = False


def install() -> None:
    """Make mmengine's ``LocalBackend.put`` / ``put_text`` atomic (idempotent)."""
    global _INSTALLED
    if _INSTALLED:
        return
    from mmengine.fileio.backends.local_backend import LocalBackend

    def put(self, obj: bytes, filepath: PathLike) -> None:
        atomic_write(filepath, obj)

    def put_text(self, obj: str, filepath: PathLike, encoding: str = 'utf-8') -> None:
        atomic_write(filepath, obj, encoding=encoding)

    put.__doc__ = 'Atomic replacement of mmengine LocalBackend.put (kd_transfer.fileio).'
    put_text.__doc__ = 'Atomic replacement of LocalBackend.put_text (kd_transfer.fileio).'
    LocalBackend.put = put
    LocalBackend.put_text = put_text
    _INSTALLED = True


install()
