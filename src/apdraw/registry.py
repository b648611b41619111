"""One registry shape for everything apdraw looks up by name.

Styles (``apdraw draw --style``), training tasks (``apdraw train``), CLI
commands, face detectors, mask backends and evaluation metrics are each a
:class:`Registry` of small frozen dataclasses ("specs") that have at least a
``name`` and a one-line ``help``. Specs name the code they stand for as a
``"module:attribute"`` string, imported only when used (:func:`load_target`),
so listing a registry (``apdraw --help``, ``apdraw styles``) imports no torch.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Generic, Iterator, Protocol, TypeVar


class Spec(Protocol):
    name: str
    help: str


S = TypeVar("S", bound=Spec)


@dataclass(frozen=True)
class Entry:
    """The plain spec: a name, a line of help, and the code it stands for (``"module:attr"`` or a module)."""

    name: str
    help: str
    target: str

    def load(self) -> Any:
        """Import and return the target."""
        return load_target(self.target)


class UnknownNameError(ValueError):
    """A name that is not in a registry; the message lists the known ones."""


def load_target(target: str) -> Any:
    """``"package.module:attr"`` -> that attribute (the module is imported now)."""
    module, _, attr = target.partition(":")
    obj = importlib.import_module(module)
    return getattr(obj, attr) if attr else obj


class Registry(Generic[S]):
    """Name -> spec, in registration order (the first one is the default)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._specs: dict[str, S] = {}

    def register(self, spec: S) -> S:
        if spec.name in self._specs:
            raise ValueError(f"{self.kind} {spec.name!r} is registered twice")
        self._specs[spec.name] = spec
        return spec

    def get(self, name: str) -> S:
        """The spec called ``name``. Raises :class:`UnknownNameError` listing the known names."""
        try:
            return self._specs[name]
        except KeyError:
            raise UnknownNameError(f"unknown {self.kind} {name!r}; choose from {', '.join(self._specs)}") from None

    def names(self) -> list[str]:
        return list(self._specs)

    @property
    def default(self) -> str:
        return next(iter(self._specs))

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[S]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)
