"""PEP 562 loading on first use, shared by the package and `api`: a name is imported from its
module only when asked for, so `import etcetera` does not load the push, pull and remote machinery."""

from __future__ import annotations

from typing import Any, Callable


def lazy_getattr(module_globals: dict[str, Any], table: dict[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` that imports `name` from the sibling module `table[name]` on first
    use and keeps it in `module_globals`; any other name is the usual AttributeError."""
    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {module_globals['__name__']!r} has no attribute {name!r}")
        import importlib

        value = getattr(importlib.import_module(f".{module}", module_globals["__package__"]), name)
        module_globals[name] = value
        return value

    return __getattr__
