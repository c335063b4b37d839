"""Which checkpoint ``tools/train.py --resume`` continues from, decided before anything runs.

mmengine's auto-resume reads ``<work_dir>/last_checkpoint`` and, when that file is missing,
logs "Auto resumed from the latest checkpoint None" and starts a new run from scratch, which
then overwrites the ``epoch_*.pth`` / ``best_*.pth`` already there (the overwrite guard of
``tools/train.py`` is skipped under ``--resume``). :func:`resolve_resume` makes the choice
itself and hands mmengine an explicit file:

* ``last_checkpoint`` names an existing file: that file (mmengine's own choice);
* otherwise the newest ``epoch_<N>.pth`` / ``iter_<N>.pth`` of the work dir, by ``N`` (not
  by modification time, which a copy or a restore changes);
* no checkpoint at all (a mistyped ``--work-dir``), or both kinds side by side: an error
  naming the work dir and what was found.
"""
import os
import os.path as osp
import re
from typing import List, Optional, Tuple

_NUMBERED = re.compile(r'^(epoch|iter)_(\d+)\.pth$')


class ResumeError(FileNotFoundError):
    """``--resume`` has no checkpoint to continue from (or cannot tell which one)."""


def numbered_checkpoints(work_dir: str) -> List[Tuple[str, int, str]]:
    """``(kind, number, path)`` of every ``epoch_<N>.pth`` / ``iter_<N>.pth`` in ``work_dir``,
    sorted by kind then number."""
    if not osp.isdir(work_dir):
        return []
    found = []
    for name in os.listdir(work_dir):
        match = _NUMBERED.match(name)
        path = osp.join(work_dir, name)
        if match and osp.isfile(path):
            found.append((match.group(1), int(match.group(2)), path))
    return sorted(found)


def _pointer(work_dir: str) -> Optional[str]:
    """The path ``<work_dir>/last_checkpoint`` names (None without the file or with it empty)."""
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        return None
    with open(pointer, encoding='utf-8') as f:
        return f.read().strip() or None


def find_resume_checkpoint(work_dir: str) -> Tuple[str, Optional[str]]:
    """The checkpoint an auto ``--resume`` in ``work_dir`` continues from.

    Args:
        work_dir (str): The run's work dir.

    Returns:
        tuple[str, str | None]: The checkpoint path, and a note to log when it was not the
        one ``last_checkpoint`` names (None when it was).

    Raises:
        ResumeError: The work dir does not exist, holds no ``epoch_<N>.pth`` /
            ``iter_<N>.pth`` (and no valid ``last_checkpoint``), or holds both kinds.
    """
    if not osp.isdir(work_dir):
        raise ResumeError(f'--resume: work dir {work_dir!r} does not exist, so there is nothing '
                          'to resume (is --work-dir mistyped?); drop --resume to start a new run')
    last = _pointer(work_dir)
    if last is not None and osp.isfile(last):
        return last, None
    numbered = numbered_checkpoints(work_dir)
    why = (f'last_checkpoint names {last!r}, which does not exist' if last is not None
           else 'it has no last_checkpoint file')
    if not numbered:
        others = sorted(n for n in os.listdir(work_dir) if n.endswith('.pth'))
        raise ResumeError(
            f'--resume: work dir {work_dir!r} holds no checkpoint to resume from ({why}, and no '
            f'epoch_<N>.pth / iter_<N>.pth' + (f'; only {others}' if others else '') +
            '). Is --work-dir mistyped? Pass --resume PATH to continue from a given file, or '
            'drop --resume to start a new run.')
    kinds = sorted({kind for kind, _, _ in numbered})
    if len(kinds) > 1:
        newest = [max((n, p) for k, n, p in numbered if k == kind)[1] for kind in kinds]
        raise ResumeError(
            f'--resume: work dir {work_dir!r} holds both epoch_<N>.pth and iter_<N>.pth '
            f'checkpoints ({why}), so the newest cannot be told by number (newest of each: '
            f'{[osp.basename(p) for p in newest]}); pass --resume PATH')
    _, number, path = max(numbered, key=lambda item: item[1])
    return path, (f'--resume: {why}; resuming from the highest-numbered checkpoint of '
                  f'{work_dir!r}: {osp.basename(path)}')


def resolve_resume(cfg, resume: Optional[str], log=None) -> None:
    """Set ``cfg.resume`` / ``cfg.load_from`` for ``--resume [PATH]``.

    ``--resume`` alone (``resume='auto'``) resumes the checkpoint :func:`find_resume_checkpoint`
    picks in ``cfg.work_dir``; ``--resume PATH`` resumes that file. mmengine always gets an
    explicit file, so it never falls back to a new run.

    Args:
        cfg (Config): The config (``work_dir`` set); changed in place.
        resume (str, optional): None (no ``--resume``), ``'auto'`` or a path.
        log (callable, optional): ``log(msg)`` for the note when ``last_checkpoint`` was not
            used (default: mmengine's ``print_log`` at warning level).

    Raises:
        ResumeError: See :func:`find_resume_checkpoint`; or PATH is not a file.
    """
    if resume is None:
        return
    if resume == 'auto':
        path, note = find_resume_checkpoint(str(cfg.work_dir))
        if note is not None:
            if log is None:
                from mmengine.logging import print_log
                print_log(note, logger='current', level=30)
            else:
                log(note)
    else:
        if not osp.isfile(resume):
            raise ResumeError(f'--resume {resume!r}: no such checkpoint file')
        path = resume
    cfg.resume = True
    cfg.load_from = path


__all__ = ['ResumeError', 'find_resume_checkpoint', 'numbered_checkpoints', 'resolve_resume']
