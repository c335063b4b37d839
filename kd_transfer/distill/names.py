"""The one table of distillation method names: short name <-> registered loss class.

A loss joins the table where it is defined, with :func:`register_method` (which also
registers it in mmengine's root ``MODELS``); the builder, the exporter's provenance and the
report all read the name back with :func:`method_name`, so they cannot disagree.
"""
from typing import Callable, Dict, Iterable, Type

from mmengine.registry import MODELS

#: short method name -> registered class name (filled by :func:`register_method`)
DISTILL_METHODS: Dict[str, str] = {}


def register_method(name: str, force: bool = False) -> Callable[[Type], Type]:
    """Class decorator: register a distillation loss in ``MODELS`` under its class name and
    in :data:`DISTILL_METHODS` under the short method name ``name``.

    Args:
        name (str): Short method name (``'kd'``), used in configs, provenance and reports.
        force (bool): Replace an existing registration of the same names.

    Raises:
        KeyError: ``name`` already names another class (and ``force`` is False).
    """
    def register(cls: Type) -> Type:
        known = DISTILL_METHODS.get(name)
        if known is not None and known != cls.__name__ and not force:
            raise KeyError(f'distillation method {name!r} is already registered for {known}; '
                           f'choose another name for {cls.__name__}')
        MODELS.register_module(module=cls, force=force)
        DISTILL_METHODS[name] = cls.__name__
        return cls

    return register


def unregister_method(name: str) -> None:
    """Remove a method registered with :func:`register_method` (tests, notebooks)."""
    cls_name = DISTILL_METHODS.pop(name, None)
    if cls_name is not None:
        MODELS._module_dict.pop(cls_name, None)


def method_name(loss_type: str) -> str:
    """Short method name of a loss ``type``: ``'KDLoss'``, ``'mmdet.KDLoss'`` or ``'kd'`` ->
    ``'kd'``. A type that was never registered is named by one fixed rule (``'FooBarLoss'``
    -> ``'foobar'``: scope and ``Loss`` suffix dropped, lower case)."""
    typ = str(loss_type).split('.')[-1]
    if typ in DISTILL_METHODS:
        return typ
    for short, cls_name in DISTILL_METHODS.items():
        if cls_name == typ:
            return short
    return (typ[:-len('Loss')] if typ.endswith('Loss') else typ).lower()


def methods_name(loss_types: Iterable[str]) -> str:
    """``'kd+at'``: the names of several losses of one distiller, in config order."""
    return '+'.join(method_name(t) for t in loss_types)
