"""Atomic file writes, and mmengine's local checkpoint writes made atomic.

mmengine 0.10.7 saves a checkpoint with ``LocalBackend.put`` (``open(path, 'wb')`` then
write) and the ``last_checkpoint`` pointer with a plain ``open(path, 'w')`` in
``CheckpointHook``. A job killed during either write (pre-emption, OOM, Ctrl-C) leaves a
truncated ``epoch_N.pth`` or a truncated pointer, and a bare ``--resume`` then fails.
:mod:`kd_transfer.patches.atomic_writes` routes all three writes through :func:`atomic_write`: the bytes go to a
temporary file in the same directory, are flushed to disk, and replace the target with
``os.replace`` (atomic on POSIX), so a reader sees the old file or the new one, never half
of one. A writer killed with SIGKILL cannot delete its temporary file; the next write of the
same target removes temporaries left by dead processes of this host.
"""
import glob
import io
import os
import socket
import tempfile
from pathlib import Path
from typing import Any, Optional, Union

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
    remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), suffix='.tmp', dir=path.parent)
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


def _host() -> str:
    return socket.gethostname().replace('.', '_').replace('-', '_') or 'host'


def _temp_prefix(path: Path, pid: Optional[int] = None) -> str:
    """``.<name>.<host>-<pid>.``: who wrote a temporary file, so that only its dead writer's
    leftovers are ever removed (other nodes may share the directory)."""
    return f'.{path.name}.{_host()}-{os.getpid() if pid is None else pid}.'


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(path: PathLike) -> list:
    """Delete the temporary files of writes to ``path`` whose process (on this host) is dead.

    Returns:
        list: The removed paths.
    """
    path = Path(path)
    prefix = f'.{path.name}.{_host()}-'
    removed = []
    for tmp in glob.glob(glob.escape(str(path.parent / prefix)) + '*.tmp'):
        pid = os.path.basename(tmp)[len(prefix):].split('.', 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            try:
                os.unlink(tmp)
                removed.append(tmp)
            except FileNotFoundError:
                pass
    return removed


class _AtomicTextFile(io.StringIO):
    """``open(path, 'w')`` stand-in: collects the text and writes it atomically on close."""

    def __init__(self, path: PathLike, encoding: str = 'utf-8') -> None:
        super().__init__()
        self._path, self._encoding, self._failed = path, encoding or 'utf-8', False

    def __exit__(self, exc_type, *rest) -> None:
        self._failed = exc_type is not None
        self.close()

    def close(self) -> None:
        if not self.closed and not self._failed:
            atomic_write(self._path, self.getvalue(), encoding=self._encoding)
        super().close()


def atomic_open(file: Any, mode: str = 'r', *args: Any, **kwargs: Any) -> Any:
    """``open`` whose text-mode writes ('w') are atomic; every other mode is the builtin's."""
    if mode in ('w', 'wt') and not args:
        return _AtomicTextFile(file, kwargs.get('encoding') or 'utf-8')
    return open(file, mode, *args, **kwargs)


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
