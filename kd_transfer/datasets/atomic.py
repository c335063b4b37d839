"""Write a directory atomically: fill a sibling temporary directory, then rename it."""
import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator


def check_output_dir(out_dir: 'str | os.PathLike', force: bool) -> Path:
    """Return ``out_dir`` as an absolute path after checking that it may be (re)written.

    Raises:
        FileExistsError: ``out_dir`` is a file, or a non-empty directory and ``force`` is False.
    """
    out = Path(os.path.abspath(os.fspath(out_dir)))
    if out.exists() and not out.is_dir():
        raise FileExistsError(f'{out} exists and is not a directory')
    if out.is_dir() and any(out.iterdir()) and not force:
        raise FileExistsError(f'{out} exists and is not empty; pass --force (force=True) to '
                              'replace it')
    return out


@contextlib.contextmanager
def atomic_output_dir(out_dir: 'str | os.PathLike', force: bool = False) -> Iterator[Path]:
    """Yield a temporary directory ``<out_dir>.tmp-*`` that replaces ``out_dir`` on success.

    On an exception the temporary directory is removed and ``out_dir`` is left untouched.
    With ``force`` an existing ``out_dir`` is moved aside, replaced, then deleted.

    Args:
        out_dir (str | os.PathLike): Final directory (its parents are created).
        force (bool): Allow replacing a non-empty ``out_dir``.

    Yields:
        Path: The directory to write into.
    """
    out = check_output_dir(out_dir, force)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f'{out.name}.tmp-', dir=out.parent))
    try:
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp creates 0700; give the usual permissions
        yield tmp
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f'{out.name}.old-', dir=out.parent))
            old.rmdir()
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
