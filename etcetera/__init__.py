"""etcetera: share versioned, content-addressed datasets through cloud storage.

    import etcetera as etc
    ds = etc.dataset("sample", auto_pull=True, config=etc.Config("s3://bucket"))
    ds["train"]  # pathlib.Path
"""

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
from .names import check_name, parse_ref
from .inspection import Diff, FileChange, Problem, Status, Verification, diff, status, verify
from .api import (
    PullReport, PushReport, create, dataset, info, ls, open, pull, pull_report, purge, push, push_report, register, versions,
)
from .repository import Repository

__all__ = [
    "Config", "Dataset", "Repository", "open", "dataset", "register", "create", "purge", "ls", "versions", "info", "push", "pull",
    "push_report", "pull_report", "PushReport", "PullReport", "check_name", "parse_ref",
    "diff", "status", "verify", "Diff", "FileChange", "Status", "Verification", "Problem",
    "EtcError", "ConfigError", "ConflictError", "DatasetError", "FormatError", "IntegrityError",
    "InvalidNameError", "NotFoundError", "PartitionNotFound", "RemoteError",
    "TransientError",
]
