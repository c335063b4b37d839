"""Which runs of the transfer report may be pooled as seeds of one experiment.

Runs are pooled only when their dumped configs differ in nothing but the seed (and the
bookkeeping that does not change what is trained: work dir, launcher, logging, the path the
backbone was read from, whose identity comes from its provenance) and they finished the same
schedule. Runs of one (backbone, method, teacher, setting) whose configs differ in anything
else are kept apart as *variants*, labelled by the config keys in which they differ. Two runs
with the same config and the same seed are one run counted twice (a copied or re-launched work
dir): the report counts it once and lists the copy.
"""
import json
import os.path as osp
import re
from typing import Any, Callable, Dict, Hashable, List, Sequence, Tuple

#: Config keys (dotted, list items by index) that do not make two runs different experiments.
IGNORED_KEYS = re.compile(
    r'^(work_dir|randomness\.seed|launcher|resume|load_from|experiment_name|log_level'
    r'|env_cfg(\..*)?|visualizer(\..*)?|vis_backends(\..*)?|log_processor(\..*)?'
    r'|default_hooks\.(logger|checkpoint|timer|visualization)(\..*)?'
    r'|model\.backbone\.init_cfg(\.\d+)?\.checkpoint|model\.pretrained)$')

#: At most this many differing keys are spelled out in a variant label.
LABEL_KEYS = 3


def flatten(value: Any, prefix: str = '') -> Dict[str, str]:
    """``{'a': {'b': [1, 2]}}`` -> ``{'a.b.0': '1', 'a.b.1': '2'}`` (values as canonical JSON)."""
    if isinstance(value, dict) and value:
        out: Dict[str, str] = {}
        for k, v in value.items():
            out.update(flatten(v, f'{prefix}.{k}' if prefix else str(k)))
        return out
    if isinstance(value, (list, tuple)) and value:
        out = {}
        for i, v in enumerate(value):
            out.update(flatten(v, f'{prefix}.{i}'))
        return out
    return {prefix: json.dumps(value, sort_keys=True, default=repr)}


def fingerprint(cfg: dict) -> Dict[str, str]:
    """The config keys that define the experiment (flattened, minus :data:`IGNORED_KEYS`).

    A top-level ``backbone`` is a helper variable of the student files (copied into
    ``model.backbone``, where the model reads it; tools/make_transfer_config.py writes the
    exported checkpoint's path into it): it is left out when the model has a backbone, so the
    backbone's identity comes from ``model.backbone`` only.
    """
    model = cfg.get('model')
    if isinstance(model, dict) and isinstance(model.get('backbone'), dict):
        cfg = {k: v for k, v in cfg.items() if k != 'backbone'}
    return {k: v for k, v in flatten(cfg).items() if not IGNORED_KEYS.match(k)}


def differing_keys(prints: Sequence[Dict[str, str]]) -> List[str]:
    """Keys whose value (or presence) is not the same in all ``prints``, in first-seen order."""
    keys: Dict[str, None] = {}
    for fp in prints:
        keys.update(dict.fromkeys(fp))
    return [k for k in keys if len({fp.get(k) for fp in prints}) > 1]


def variant(fp: Dict[str, str], keys: Sequence[str], prefix: str = '') -> Tuple[Tuple[str, str],
                                                                                 ...]:
    """``((prefix + key, value), ...)`` of ``fp`` over ``keys`` (``'unset'`` when absent)."""
    out = []
    for k in keys:
        v = fp.get(k)
        out.append((prefix + k, 'unset' if v is None else v.strip('"')))
    return tuple(out)


def variant_text(items: Sequence[Tuple[str, str]]) -> str:
    """``'train_cfg.max_epochs=5, optim_wrapper.optimizer.lr=0.1 (+2 more)'``."""
    shown = [f'{k}={v}' for k, v in items[:LABEL_KEYS]]
    more = len(items) - LABEL_KEYS
    return ', '.join(shown) + (f' (+{more} more)' if more > 0 else '')


def duplicates(items: Sequence[Tuple[Hashable, Any]]) -> List[Tuple[Any, Any]]:
    """``(copy, kept)`` pairs among ``(key, run)`` items: the first run of each key is kept."""
    kept: Dict[Hashable, Any] = {}
    out = []
    for key, run in items:
        if key in kept:
            out.append((run, kept[key]))
        else:
            kept[key] = run
    return out


# --- on the report's runs (kd_transfer.report.Run) ----------------------------------------
def variants(runs: Sequence[Any], group: Callable[[Any], tuple],
             prefix: Callable[[Any], str] = lambda r: '') -> Dict[str, tuple]:
    """Run dir (realpath) -> its variant: the config keys (and schedule reached) in which it
    differs from other runs of its ``group``."""
    members: Dict[tuple, List[Any]] = {}
    for run in runs:
        members.setdefault(group(run), []).append(run)
    out: Dict[str, tuple] = {}
    for same in members.values():
        prints = [pooling_print(r) for r in same]
        keys = differing_keys(prints)
        for run, fp in zip(same, prints):
            out[osp.realpath(run.run_dir)] = variant(fp, keys, prefix(run))
    return out


def pooling_print(run: Any) -> Dict[str, str]:
    return dict(run.fingerprint, **{'schedule reached': run.progress or 'unknown'})


def mark_duplicates(runs: Sequence[Any]) -> List[Tuple[Any, Any]]:
    """Mark runs with the same config and seed (and backbone) as an earlier one ``duplicate``."""
    def key(run: Any) -> tuple:
        prov = run.provenance or {}
        backbone = prov.get('source_sha256') or prov.get('source') or run.checkpoint
        fp = tuple(sorted(pooling_print(run).items()))
        seed = run.seed if run.seed is not None else ('no seed', tuple(sorted(
            run.metrics.items())))
        return (run.task, run.dataset, run.arch, run.method, run.teacher, backbone, seed, fp)

    pairs = duplicates([(key(r), r) for r in runs])
    for copy, kept in pairs:
        copy.status = 'duplicate'
        copy.reason = (f'same config and seed ({copy.seed}) as {kept.run_dir}: counted once')
    return pairs
