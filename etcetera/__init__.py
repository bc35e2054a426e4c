"""etcetera: share versioned, content-addressed datasets through cloud storage.

    import etcetera as etc
    ds = etc.dataset("sample", auto_pull=True, config=etc.Config("s3://bucket"))
    ds["train"]  # pathlib.Path
"""

import sys as _sys
import types as _types
from typing import TYPE_CHECKING as _TYPE_CHECKING, Any as _Any

from ._lazy import lazy_getattr as _lazy_getattr
from .version import __version__  # noqa: F401
from .config import Config
from .dataset import Dataset
from .errors import (
    ConfigError,
    ConflictError,
    DatasetError,
    EtcError,
    FormatError,
    IntegrityError,
    InvalidNameError,
    NotFoundError,
    PartitionNotFound,
    RemoteError,
    TransientError,
)
from .names import Ref, check_name, check_tag, dataset_uri, parse_ref, parse_ref_or_tag
from .api import create, dataset, info, ls, open, pull, pull_report, purge, push, push_report, register, tag, tags, versions

if _TYPE_CHECKING:
    from .api import PullReport, PushReport, Repository, TagChange
    from .inspection import Diff, FileChange, Problem, Status, Verification, diff, status, verify

# Loaded on first use (PEP 562), so that `import etcetera` and the commands on the home alone
# (etc list, etc register) do not load the push, pull, remote and inspection machinery.
_LAZY = {
    **dict.fromkeys(["PullReport", "PushReport", "Repository", "TagChange"], "api"),
    **dict.fromkeys(["Diff", "FileChange", "Problem", "Status", "Verification", "diff", "status", "verify"],
                    "inspection"),
}
# Operations named like a submodule: etcetera.push is the function, also after the module
# etcetera.push is first imported (importlib.import_module("etcetera.push") gives the module).
_OPERATIONS = frozenset({"dataset", "pull", "push", "tags"})


__getattr__ = _lazy_getattr(globals(), _LAZY)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


class _Package(_types.ModuleType):
    def __setattr__(self, name: str, value: _Any) -> None:
        if name in _OPERATIONS and isinstance(value, _types.ModuleType):
            return  # the import system binding a submodule loaded later: the operation keeps its name
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package

__all__ = [
    "Config", "Dataset", "Repository", "open", "dataset", "register", "create", "purge", "ls", "versions", "info", "push", "pull",
    "push_report", "pull_report", "PushReport", "PullReport", "check_name", "dataset_uri", "parse_ref",
    "tag", "tags", "TagChange", "Ref", "check_tag", "parse_ref_or_tag",
    "diff", "status", "verify", "Diff", "FileChange", "Status", "Verification", "Problem",
    "EtcError", "ConfigError", "ConflictError", "DatasetError", "FormatError", "IntegrityError",
    "InvalidNameError", "NotFoundError", "PartitionNotFound", "RemoteError",
    "TransientError",
]
