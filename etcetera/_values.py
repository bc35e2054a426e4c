"""Plain value classes: what `@dataclass` gave etcetera's records, without its cost at start-up.

Importing `dataclasses` takes ~10 ms (it imports inspect, ast, dis and tokenize) and the decorator
~0.7 ms per class (it generates and execs code), paid by every `etc` command.  A value class here
declares its fields as `__slots__` (in order) and writes its own `__init__`; it gets from `Value`
what a dataclass had: `==` field by field with an instance of the very same class, and
`Name(field=value, ...)` as repr, leaving out the fields named in `_hidden` (dataclass repr=False).
A `Value` is unhashable, like a dataclass with eq; a `FrozenValue` is immutable and hashable, like
a frozen one, and its `__init__` sets fields with `object.__setattr__`.
"""

from __future__ import annotations

from typing import Any, ClassVar

set_field = object.__setattr__  # how a FrozenValue's `__init__` sets its fields (its own __setattr__ refuses)


class Value:
    """A mutable record whose `__slots__` are its fields, compared and shown field by field."""

    __slots__ = ()
    _hidden: ClassVar[tuple[str, ...]] = ()  # fields left out of the repr (secrets, caches)

    def _values(self) -> tuple[Any, ...]:
        return tuple([getattr(self, name) for name in self.__slots__])

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]  # mutable: unhashable, as a dataclass with eq

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__ if name not in self._hidden)
        return f"{self.__class__.__qualname__}({shown})"


class FrozenValue(Value):
    """An immutable, hashable record (a frozen dataclass): assigning or deleting a field raises
    AttributeError; copies and pickles carry the field values."""

    __slots__ = ()

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}")

    def __hash__(self) -> int:
        return hash(self._values())

    def __getstate__(self) -> tuple[Any, ...]:
        return self._values()

    def __setstate__(self, state: tuple[Any, ...] | dict[str, Any]) -> None:
        # A dict: pickled by an earlier release, when the class was a dataclass.
        for name, value in state.items() if isinstance(state, dict) else zip(self.__slots__, state):
            set_field(self, name, value)
