"""Refuse a misspelt ``--cfg-options`` key.

mmengine's ``Config.merge_from_dict`` adds any key it is given: ``train_cgf.max_epochs=2``
creates a new top-level ``train_cgf`` that nothing reads, and the full schedule runs.
:func:`check_cfg_options` accepts a top-level key only if the config already has it or
mmengine's Runner reads it; anything else is refused with the closest known keys. Below the
top level, :func:`nested_problem` follows the dotted path through the config's dicts and lists:

* an intermediate name missing from a plain dict (``train_dataloader.datset.x``), or missing
  from a constructor dict (one with ``type``) while a sibling has a close name
  (``model.backbon.depth``), is refused: mmengine would add a new dict nobody reads, or pass
  it on to a builder that fails much later with a bare TypeError;
* a new leaf whose name is close to an existing sibling's (``optimizer.lrr`` beside ``lr``,
  similarity >= 0.8) is refused as a typo; other new leaves (a new argument of a ``type=``
  dict) and new intermediate dicts under a constructor dict (``backbone.init_cfg.checkpoint``)
  are accepted, as upstream accepts them;
* a non-number below a list (``custom_hooks.foo``), an index out of range, or a path through
  a number or a string is refused.
"""
import difflib
from typing import Iterable, Optional

#: Top-level keys mmengine 0.10's ``Runner`` reads although a config need not set them
#: (``Runner.from_cfg`` arguments and ``self.cfg.get(...)`` look-ups), and those of the
#: entry points (``runner_type``; kd_transfer's ``launch.py``: ``model_wrapper_cfg``).
RUNNER_KEYS = frozenset({
    'model', 'work_dir', 'train_dataloader', 'val_dataloader', 'test_dataloader', 'train_cfg',
    'val_cfg', 'test_cfg', 'auto_scale_lr', 'optim_wrapper', 'param_scheduler',
    'val_evaluator', 'test_evaluator', 'default_hooks', 'custom_hooks', 'data_preprocessor',
    'load_from', 'resume', 'launcher', 'env_cfg', 'log_processor', 'log_level', 'visualizer',
    'default_scope', 'randomness', 'experiment_name', 'model_wrapper_cfg', 'sync_bn',
    'find_unused_parameters', 'activation_checkpointing', 'efficient_conv_bn_eval', 'compile',
    'runner_type', 'custom_imports',
})


class UnknownCfgOptionError(KeyError):
    """A ``--cfg-options`` key names no entry of the config."""

    def __str__(self) -> str:  # KeyError would print the message with quotes around it
        return str(self.args[0])


#: A new name this similar to an existing sibling's is taken for a typo of it.
TYPO_CUTOFF = 0.8


def _close(name: str, names, cutoff: float) -> list:
    return difflib.get_close_matches(name, sorted(str(n) for n in names), n=3, cutoff=cutoff)


def _mean(close: list) -> str:
    return f'; did you mean {" or ".join(repr(c) for c in close)}?' if close else ''


def nested_problem(cfg, key: str) -> Optional[str]:
    """Why the dotted ``key`` (whose first part is known) names no place in ``cfg``, or None.

    Args:
        cfg (dict): The config before the options are merged.
        key (str): A ``--cfg-options`` key, e.g. ``'model.backbone.depth'``.

    Returns:
        str or None: The problem, naming the wrong part and its close matches.
    """
    parts = str(key).split('.')
    node = cfg[parts[0]]
    for i, part in enumerate(parts[1:], start=1):
        parent, last = '.'.join(parts[:i]), i == len(parts) - 1
        if isinstance(node, (list, tuple)):
            if not part.isdigit():
                return (f'{parent!r} is a list of {len(node)}: index it with a number '
                        f'0..{len(node) - 1}, not {part!r}')
            if int(part) >= len(node):
                return f'{parent!r} is a list of {len(node)}: index {part} is out of range'
            node = node[int(part)]
            continue
        if not (hasattr(node, 'keys') and hasattr(node, '__getitem__')):  # dict or Config
            return (f'{parent!r} is {type(node).__name__} {node!r}, which has no entry '
                    f'{part!r}')
        if part in node:
            node = node[part]
            continue
        siblings = [k for k in node.keys() if k != part]
        if last:  # a new leaf: legal (a new argument), unless it looks like a typo
            close = _close(part, siblings, TYPO_CUTOFF)
            return (f'{part!r} is not a key of {parent!r}{_mean(close)}') if close else None
        close = _close(part, siblings, 0.6)
        if 'type' in node and not close:
            return None  # a new dict argument of a constructor (e.g. init_cfg)
        return f'{part!r} is not a key of {parent!r}{_mean(close)}'
    return None


def check_cfg_options(cfg, options: dict, config_path: str = '',
                      known: Iterable[str] = RUNNER_KEYS) -> None:
    """Raise if a key of ``options`` names no place in the config (see the module doc).

    Args:
        cfg (Config): The config before the options are merged.
        options (dict): ``--cfg-options`` as parsed by ``DictAction`` (dotted keys).
        config_path (str): For the message.
        known (Iterable[str]): Top-level names accepted besides the config's own.

    Raises:
        UnknownCfgOptionError: Lists each unknown key with its close matches.
    """
    names = set(cfg.keys()) | set(known)
    bad = []
    for key in options or {}:
        top = str(key).split('.')[0]
        if top not in names:
            close = difflib.get_close_matches(top, sorted(names), n=3, cutoff=0.6)
            bad.append(f'{key!r} ({top!r} is not a key of the config' +
                       (f'; did you mean {" or ".join(repr(c) for c in close)}?)' if close
                        else ')'))
        elif top in cfg:
            problem = nested_problem(cfg, str(key))
            if problem:
                bad.append(f'{key!r} ({problem})')
    if bad:
        raise UnknownCfgOptionError(
            f'--cfg-options: unknown key(s) for {config_path or "the config"}: '
            f'{"; ".join(bad)}. Nothing would read them (mmengine would add them silently, or '
            'fail later); nothing was run.')


__all__ = ['RUNNER_KEYS', 'UnknownCfgOptionError', 'check_cfg_options', 'nested_problem']
