"""One generic registry: named objects of one kind (models, tasks, data sets, learning rules,
NIR graph exporters, neurons), each looked up the same way.

``Registry[T](kind)``: :meth:`~Registry.register` adds a name (a second, different object under
the same name is refused unless ``replace=True``), :meth:`~Registry.get` returns it or raises one
line naming the closest registered name (``difflib``), :meth:`~Registry.names` lists them sorted.
A registry whose entries register themselves when their modules are imported takes a ``loader``
(called once before the first lookup). This module imports nothing from the zoo, so every layer
(core, exporters, application) can use it.
"""
from __future__ import annotations

import difflib
from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Named objects of one ``kind``; lookups of unknown names raise ``error`` (one line)."""

    def __init__(self, kind: str, error: type[Exception] = LookupError, see: str = "",
                 loader: Callable[[], None] | None = None) -> None:
        self.kind = kind
        self.error = error
        self.see = see  # appended to the unknown-name error, e.g. "see `zoo list`"
        self._loader = loader
        self._loaded = loader is None
        self._items: dict[str, T] = {}

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True  # before the call: the loader's imports register into us
            assert self._loader is not None
            self._loader()

    def register(self, name: str, obj: T, replace: bool = False) -> T:
        """Add ``obj`` under ``name`` and return it (usable as a decorator's last step)."""
        old = self._items.get(name)
        if old is not None and old is not obj and not replace:
            raise self.error(f"{self.kind} {name!r} is registered twice")
        self._items[name] = obj
        return obj

    def get(self, name: str) -> T:
        """The object named ``name``; an unknown name suggests the closest registered one."""
        self._load()
        if name in self._items:
            return self._items[name]
        raise self.error(self.unknown(name))

    def unknown(self, name: str) -> str:
        """The one-line message for an unknown ``name``."""
        close = difflib.get_close_matches(str(name), list(self._items), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(self.names()) or '-'}"
        return f"unknown {self.kind} {name!r}{hint}" + (f" ({self.see})" if self.see else "")

    def names(self) -> list[str]:
        self._load()
        return sorted(self._items)

    def items(self) -> list[tuple[str, T]]:
        return [(n, self._items[n]) for n in self.names()]

    def values(self) -> list[T]:
        return [self._items[n] for n in self.names()]

    def snapshot(self) -> dict[str, T]:
        """A copy of the entries, for :meth:`restore` (undo registrations of a failed import)."""
        return dict(self._items)

    def restore(self, entries: dict[str, T]) -> None:
        self._items = dict(entries)

    # dict-style reads and writes, so code written against a plain dict keeps working
    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __setitem__(self, name: str, obj: T) -> None:
        self.register(name, obj, replace=True)

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self._load()
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self._items)} entries)"
