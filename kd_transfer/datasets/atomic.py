"""Write a directory atomically: fill a sibling temporary directory, then rename it.

Every directory written this way holds a manifest (:data:`MANIFEST`) listing the files the
tool wrote; ``--force`` replaces a directory only when it holds nothing else, so files a
user keeps there (or a directory given by mistake, e.g. ``.``) are never deleted.
"""
import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator, List

#: Name of the manifest file written into every output directory.
MANIFEST = '.kd_transfer_manifest.json'


def _entries(root: Path) -> List[str]:
    """Relative paths of every file, link and directory under ``root`` (links not followed)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        out += [str(rel / d) for d in dirnames] + [str(rel / f) for f in filenames]
    return sorted(out)


def write_manifest(root: Path) -> None:
    """List the files under ``root`` in ``root/MANIFEST``."""
    files = [e for e in _entries(root) if not (root / e).is_dir() or (root / e).is_symlink()]
    (root / MANIFEST).write_text(json.dumps(dict(
        written_by='kd_transfer', files=[f for f in files if f != MANIFEST]), indent=0) + '\n')


def foreign_entries(root: Path) -> List[str]:
    """What ``root`` holds besides the files its manifest lists (everything without one)."""
    try:
        listed = set(json.loads((root / MANIFEST).read_text(encoding='utf-8'))['files'])
    except (OSError, ValueError, KeyError, TypeError):
        return _entries(root)
    parents = {str(p) for f in listed for p in Path(f).parents}
    return [e for e in _entries(root) if e != MANIFEST and e not in listed and e not in parents]


def check_output_dir(out_dir: 'str | os.PathLike', force: bool) -> Path:
    """Return ``out_dir`` as an absolute path after checking that it may be (re)written.

    Raises:
        FileExistsError: ``out_dir`` is a file; or a non-empty directory and ``force`` is False;
            or, with ``force``, a directory holding anything its :data:`MANIFEST` does not list
            (everything, when it has none).
    """
    out = Path(os.path.abspath(os.fspath(out_dir)))
    if out.exists() and not out.is_dir():
        raise FileExistsError(f'{out} exists and is not a directory')
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise FileExistsError(f'{out} exists and is not empty; pass --force (force=True) to '
                                  'replace it')
        foreign = foreign_entries(out)
        if foreign:
            shown = ', '.join(foreign[:5]) + (f' ... (+{len(foreign) - 5} more)'
                                              if len(foreign) > 5 else '')
            why = ('holds files this tool did not write' if (out / MANIFEST).is_file()
                   else f'was not written by this tool (it has no {MANIFEST})')
            raise FileExistsError(f'{out} {why}: {shown}; --force only replaces a directory '
                                  'this tool wrote. Choose another directory, or move those '
                                  'files away yourself.')
    return out


@contextlib.contextmanager
def atomic_output_dir(out_dir: 'str | os.PathLike', force: bool = False) -> Iterator[Path]:
    """Yield a temporary directory ``<out_dir>.tmp-*`` that replaces ``out_dir`` on success.

    On an exception the temporary directory is removed and ``out_dir`` is left untouched.
    With ``force`` an existing ``out_dir`` that holds only what its manifest lists is moved
    aside, replaced, then deleted. The manifest of the new directory is written last.

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
        write_manifest(tmp)
        check_output_dir(out, force)  # nothing was added to out_dir meanwhile
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
