"""A tiny name → object registry (after fvcore): refuses duplicates, lists valid names."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from taskonomy.errors import TaskonomyError, input_error, one_of

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names (and optional aliases) to objects.

    >>> r: Registry[int] = Registry("number")
    >>> r.register("one", 1, aliases=("uno",))
    1
    >>> r.get("uno")
    1
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._aliases: dict[str, str] = {}

    def register(self, name: str, obj: T, aliases: tuple[str, ...] = ()) -> T:
        for key in (name, *aliases):
            if key in self._items or key in self._aliases:
                raise TaskonomyError(
                    f"{self.kind} {key!r} is already registered; "
                    f"pick another name or remove the earlier registration."
                )
        self._items[name] = obj
        for alias in aliases:
            if alias != name:
                self._aliases[alias] = name
        return obj

    def decorator(self, name: str, aliases: tuple[str, ...] = ()) -> Callable[[T], T]:
        def wrap(obj: T) -> T:
            return self.register(name, obj, aliases)

        return wrap

    def canonical(self, name: str) -> str:
        """The registered name for ``name`` or one of its aliases."""
        if name in self._items:
            return name
        if name in self._aliases:
            return self._aliases[name]
        raise input_error(
            f"unknown {self.kind}", name, one_of(self._items), "Names are case-sensitive."
        )

    def get(self, name: str) -> T:
        return self._items[self.canonical(name)]

    def names(self) -> list[str]:
        return list(self._items)

    def aliases(self) -> dict[str, str]:
        return dict(self._aliases)

    def __contains__(self, name: object) -> bool:
        return name in self._items or name in self._aliases

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)
