"""Refuse a misspelt top-level ``--cfg-options`` key.

mmengine's ``Config.merge_from_dict`` adds any key it is given: ``train_cgf.max_epochs=2``
creates a new top-level ``train_cgf`` that nothing reads, and the full schedule runs.
:func:`check_cfg_options` accepts a top-level key only if the config already has it or
mmengine's Runner reads it; anything else is refused with the closest known keys. Keys
nested under an existing entry (``model.backbone.init_cfg.checkpoint``) are left to the
code that reads them (mmengine's builders reject unknown arguments themselves).
"""
import difflib
from typing import Iterable

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


def check_cfg_options(cfg, options: dict, config_path: str = '',
                      known: Iterable[str] = RUNNER_KEYS) -> None:
    """Raise if a key of ``options`` starts with an unknown top-level name.

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
    if bad:
        raise UnknownCfgOptionError(
            f'--cfg-options: unknown key(s) for {config_path or "the config"}: '
            f'{"; ".join(bad)}. Nothing would read them (mmengine would add them silently); '
            'nothing was run.')


__all__ = ['RUNNER_KEYS', 'UnknownCfgOptionError', 'check_cfg_options']
