"""What a patch of an upstream library is: a name, the versions it was written for, an
environment variable that switches it off, and the function that applies it once."""
import os
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from typing import Callable, Dict, Optional, Tuple

#: Values of a ``KD_PATCH_*`` variable that switch its patch off.
OFF_VALUES = ('0', 'false', 'no', 'off')


class PatchVersionWarning(UserWarning):
    """An upstream package is outside the version range a patch was written for."""


def installed_version(package: str) -> Optional[str]:
    """The installed version of ``package`` (None when it is not installed)."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _release(version: str) -> Tuple[int, ...]:
    """``'2.14.1+cu130'`` -> ``(2, 14, 1)``: the numeric release part of a version."""
    from packaging.version import Version
    return Version(version).release


@dataclass
class Patch:
    """One change kd_transfer makes to an upstream library at import.

    Args:
        name (str): Short name, used in the log line and the docs.
        env (str): Environment variable; ``0`` / ``false`` / ``no`` / ``off`` switch it off.
        what (str): One line: what upstream object is replaced and why.
        requires (dict): ``package -> (lowest, first_unsupported)`` versions it was written
            and tested for (``lowest <= installed < first_unsupported``).
        apply_fn (callable): Applies the patch; called at most once per process.
    """

    name: str
    env: str
    what: str
    requires: Dict[str, Tuple[str, str]]
    apply_fn: Callable[[], None]
    applied: bool = field(default=False, init=False)

    def enabled(self) -> bool:
        """False when :attr:`env` is set to one of :data:`OFF_VALUES`."""
        return os.environ.get(self.env, '1').strip().lower() not in OFF_VALUES

    def version_problems(self, versions: Optional[Dict[str, Optional[str]]] = None) -> list:
        """``'mmengine 0.11.0 (written for >=0.10.0, <0.11)'`` for every package outside its
        range; ``versions`` overrides the installed ones (tests)."""
        problems = []
        for package, (low, high) in self.requires.items():
            have = versions[package] if versions and package in versions \
                else installed_version(package)
            if have is None:
                continue
            if not _release(low) <= _release(have) < _release(high):
                problems.append(f'{package} {have} (written for >={low}, <{high})')
        return problems

    def check_versions(self, versions: Optional[Dict[str, Optional[str]]] = None) -> bool:
        """Warn (:class:`PatchVersionWarning`) when an upstream version is outside the range.

        Returns:
            bool: True when every version is inside its range.
        """
        problems = self.version_problems(versions)
        if problems:
            warnings.warn(
                f'kd_transfer patch {self.name!r} ({self.what}) was written for other versions: '
                f'{"; ".join(problems)}. It is applied anyway; check that it still fits '
                f'(docs/patches.md), or switch it off with {self.env}=0.',
                PatchVersionWarning, stacklevel=3)
        return not problems

    def apply(self) -> bool:
        """Apply once (unless switched off). Returns True when the patch is in place."""
        if self.applied:
            return True
        if not self.enabled():
            return False
        self.check_versions()
        self.apply_fn()
        self.applied = True
        return True

    def label(self) -> str:
        """``'atomic_writes (mmengine 0.10.7)'``: the name and the versions it met."""
        have = ', '.join(f'{p} {installed_version(p)}' for p in self.requires)
        return f'{self.name} ({have})'
