"""Which checkpoint ``tools/train.py --resume`` continues from, decided before anything runs.

mmengine's auto-resume reads ``<work_dir>/last_checkpoint`` and, when that file is missing,
logs "Auto resumed from the latest checkpoint None" and starts a new run from scratch, which
then overwrites the ``epoch_*.pth`` / ``best_*.pth`` already there (the overwrite guard of
``tools/train.py`` is skipped under ``--resume``). :func:`resolve_resume` makes the choice
itself and hands mmengine an explicit file:

* ``last_checkpoint`` names an existing file in the work dir: that file (mmengine's own
  choice). It holds the absolute path the run wrote, so in a copied work dir (``cp -r``) it
  names the original's file: then the file of the same name in this work dir is used, and
  without one the resume is refused (a copy must not continue from, or depend on, another
  directory);
* otherwise the newest ``epoch_<N>.pth`` / ``iter_<N>.pth`` of the work dir, by ``N`` (not
  by modification time, which a copy or a restore changes);
* no checkpoint at all (a mistyped ``--work-dir``), or both kinds side by side: an error
  naming the work dir and what was found.
"""
import os
import os.path as osp
import re
from typing import List, Optional, Sequence, Tuple

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


def _same_dir(a: str, b: str) -> bool:
    return osp.realpath(a) == osp.realpath(b)


def _outside(work_dir: str, last: str) -> Tuple[str, Optional[str]]:
    """``last_checkpoint`` names a file outside the work dir (and outside the checkpoint
    hook's ``out_dir``): the same-named file here, or an error."""
    here = osp.join(work_dir, osp.basename(last))
    if osp.isfile(here):
        return here, (f'--resume: last_checkpoint names {last!r}, outside the work dir '
                      f'{work_dir!r} (a copied work dir?); resuming from the file of the same '
                      f'name here: {here}')
    raise ResumeError(
        f'--resume: {osp.join(work_dir, "last_checkpoint")} names {last!r}, a file outside the '
        f'work dir {work_dir!r} (the work dir was copied or moved?), and the work dir has no '
        f'{osp.basename(last)} of its own. Refusing to resume from another directory: pass '
        '--resume PATH to choose the file, or fix last_checkpoint.')


def find_resume_checkpoint(work_dir: str, out_dirs: Sequence[str] = ()
                           ) -> Tuple[str, Optional[str]]:
    """The checkpoint an auto ``--resume`` in ``work_dir`` continues from.

    Args:
        work_dir (str): The run's work dir.
        out_dirs (Sequence[str]): Other directories the run writes checkpoints to (the
            checkpoint hook's ``out_dir``/<work dir name>).

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
        if not any(_same_dir(osp.dirname(last) or '.', d) for d in (work_dir, *out_dirs)):
            return _outside(work_dir, last)
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


def _hook_out_dirs(cfg) -> List[str]:
    """Where mmengine's CheckpointHook writes when given ``out_dir``: out_dir/<work dir name>."""
    hook = (cfg.get('default_hooks') or {}).get('checkpoint') or {}
    out_dir = hook.get('out_dir') if hasattr(hook, 'get') else None
    if not out_dir:
        return []
    return [osp.join(str(out_dir), osp.basename(str(cfg.work_dir).rstrip(osp.sep)))]


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
        path, note = find_resume_checkpoint(str(cfg.work_dir), _hook_out_dirs(cfg))
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
