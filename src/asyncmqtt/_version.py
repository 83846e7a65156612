"""``__version__`` and ``__version_tuple__``, from the installed package's metadata.

The version is written once, in ``pyproject.toml``; the installed distribution's metadata
carries it, so it is read from there rather than repeated here. Imported from a source tree
that was never installed (``PYTHONPATH=src``), there is no metadata: the version is then
``0+unknown`` (a valid PEP 440 version that sorts before every release) rather than an import
error or a guess.

``__version_tuple__`` has the shape setuptools-scm gives it (and aiomqtt exports): the numeric
release parts as ints, anything else as strings, e.g. ``"1.2.0rc1+g3f2a"`` -> ``(1, 2, "0rc1",
"g3f2a")``.
"""

from __future__ import annotations

from importlib import metadata
from typing import Final

__all__ = (
    "UNKNOWN_VERSION",
    "__version__",
    "__version_tuple__",
    "installed_version",
    "version_tuple",
)

DISTRIBUTION: Final = "asyncmqtt"
"""The name of the distribution whose metadata holds the version."""
UNKNOWN_VERSION: Final = "0+unknown"
"""The version of a source tree that was never installed (see the module docstring)."""


def installed_version(distribution: str = DISTRIBUTION) -> str:
    """The version of the installed ``distribution``, or ``UNKNOWN_VERSION`` if none is."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return UNKNOWN_VERSION


def version_tuple(version: str) -> tuple[int | str, ...]:
    """``version``'s public part split at dots (digits as ints), then its local part, whole."""
    public, _, local = version.partition("+")
    parts: list[int | str] = [int(part) if part.isdigit() else part for part in public.split(".")]
    if local:
        parts.append(local)
    return tuple(parts)


__version__: Final[str] = installed_version()
"""The version of the installed asyncmqtt, such as ``"1.2.0"`` (a PEP 440 version, read from
the package's metadata); ``"0+unknown"`` when imported from a source tree never installed."""
__version_tuple__: Final[tuple[int | str, ...]] = version_tuple(__version__)
"""``__version__`` as a tuple, as setuptools-scm makes it (and aiomqtt exports): the numeric
release parts as ints, anything else as strings; ``"1.2.0rc1+g3f2a"`` gives
``(1, 2, "0rc1", "g3f2a")``."""
