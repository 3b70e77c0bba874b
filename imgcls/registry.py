"""A name -> object registry: the one shape behind workloads, pipelines, data loaders and knobs."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Generic, TypeVar

from imgcls.errors import InvalidValue

T = TypeVar("T")


class Registry(Generic[T]):
    """Registration order is kept (it is the order `list` and `--help` show); a name registers once."""

    def __init__(self, kind: str) -> None:
        self.kind = kind  # "workload", "pipeline", ... for error messages
        self._items: dict[str, T] = {}

    def register(self, name: str, item: T) -> T:
        if name in self._items:
            raise ValueError(f"{self.kind.capitalize()} {name!r} registered twice")
        self._items[name] = item
        return item

    def get(self, name: str) -> T:
        if name not in self._items:
            raise InvalidValue(f"Unknown {self.kind} {name!r}; known: {', '.join(self._items)}")
        return self._items[name]

    def names(self) -> list[str]:
        return list(self._items)

    def values(self) -> list[T]:
        return list(self._items.values())

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    @contextlib.contextmanager
    def isolated(self) -> Iterator[Registry[T]]:
        """Registrations made inside the block are undone when it ends (tests register throwaway items)."""
        saved = dict(self._items)
        try:
            yield self
        finally:
            self._items = saved
