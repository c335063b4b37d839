"""Warn when ``--resume`` continues a run with a config other than the one it was trained with.

mmengine resumes whatever config it is given: a changed learning rate or schedule silently
mixes two experiments in one run, and a changed model only fails (or, worse, loads) at the
checkpoint. Before the runner is built (it overwrites the dumped copy), the config dumped in
the work dir by the previous launch is compared with the current one:

* top-level keys that differ (``optim_wrapper``, ``train_cfg``, ...) are named in a warning;
* a different ``model`` is an error, unless ``tools/train.py --allow-model-change`` is given
  (the distillation method and its weights live in ``model``: a resumed run that changes them
  would be reported under one identity while trained under two).

Keys that change between launches by design (``work_dir``, ``resume``, ``load_from``,
``launcher``; ``experiment_name`` and ``visualizer``, which the Runner stamps per launch) are
not compared. Without a dumped config (an older or hand-made work dir)
nothing is checked.
"""
import os
import os.path as osp
from typing import Callable, List, Optional

#: Top-level keys that a resumed launch legitimately sets differently.
RELAUNCH_KEYS = frozenset({'work_dir', 'resume', 'load_from', 'launcher', 'experiment_name',
                           'visualizer'})


class ResumeConfigError(ValueError):
    """``--resume`` with a config whose model differs from the one the run was trained with."""


def dumped_config(work_dir: str, name: Optional[str] = None) -> Optional[str]:
    """The config a previous launch dumped into ``work_dir``: ``name`` if present, else the
    newest ``*.py`` (None when there is none)."""
    if name and osp.isfile(osp.join(work_dir, name)):
        return osp.join(work_dir, name)
    if not osp.isdir(work_dir):
        return None
    found = [osp.join(work_dir, f) for f in os.listdir(work_dir) if f.endswith('.py')]
    found = [f for f in found if osp.isfile(f)]
    return max(found, key=osp.getmtime) if found else None


def changed_top_level_keys(old: dict, new: dict) -> List[str]:
    """Top-level keys whose value (compared flattened, so lists equal tuples) or presence
    differs between two config dicts, minus :data:`RELAUNCH_KEYS`."""
    from .report.pooling import flatten
    keys = []
    for key in list(dict.fromkeys([*old, *new])):
        if key in RELAUNCH_KEYS:
            continue
        if (key in old) != (key in new) or flatten(old.get(key)) != flatten(new.get(key)):
            keys.append(str(key))
    return keys


def check_resume_config(cfg, allow_model_change: bool = False,
                        log: Optional[Callable[[str], None]] = None) -> List[str]:
    """Compare a resumed run's config with the one dumped in its work dir.

    Args:
        cfg (Config): The current config (``resume`` / ``work_dir`` set).
        allow_model_change (bool): Warn instead of refusing when ``model`` differs.
        log (callable, optional): ``log(msg)`` for the warning (default: mmengine's
            ``print_log`` at warning level).

    Returns:
        list[str]: The differing top-level keys (empty when not resuming).

    Raises:
        ResumeConfigError: ``model`` differs and ``allow_model_change`` is False.
    """
    if not cfg.get('resume'):
        return []
    from mmengine.config import Config
    name = osp.basename(cfg.filename) if getattr(cfg, 'filename', None) else None
    path = dumped_config(str(cfg.work_dir), name)
    if path is None:
        return []
    try:
        old = Config.fromfile(path).to_dict()
    except Exception as err:  # noqa: BLE001  a damaged dump must not stop the resume
        _log(log, f'--resume: could not read the config dumped by the previous launch, {path} '
                  f'({type(err).__name__}: {err}); the configs were not compared')
        return []
    changed = changed_top_level_keys(old, cfg.to_dict())
    if not changed:
        return []
    text = (f'--resume: the config differs from the one this run was trained with ({path}) '
            f'in: {", ".join(changed)}')
    if 'model' in changed and not allow_model_change:
        raise ResumeConfigError(
            f'{text}. A different model (architecture, teacher or distillation losses) would '
            'mix two experiments in one run: resume with the original config, start a new run '
            'in another --work-dir, or pass --allow-model-change if this is intended.')
    _log(log, f'{text}; the resumed run continues with the new values (the dumped copy is '
              'replaced by the new config)')
    return changed


def _log(log, msg: str) -> None:
    if log is None:
        from mmengine.logging import print_log
        print_log(msg, logger='current', level=30)
    else:
        log(msg)


__all__ = ['RELAUNCH_KEYS', 'ResumeConfigError', 'changed_top_level_keys',
           'check_resume_config', 'dumped_config']
