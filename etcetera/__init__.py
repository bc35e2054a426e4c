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
from .names import Ref, check_name, check_tag, dataset_uri, parse_ref, parse_ref_or_tag
from .inspection import Diff, FileChange, Problem, Status, Verification, diff, status, verify
from .api import (
    PullReport, PushReport, TagChange, create, dataset, info, ls, open, pull, pull_report, purge, push, push_report, register,
    tag, tags, versions,
)
from .repository import Repository

__all__ = [
    "Config", "Dataset", "Repository", "open", "dataset", "register", "create", "purge", "ls", "versions", "info", "push", "pull",
    "push_report", "pull_report", "PushReport", "PullReport", "check_name", "dataset_uri", "parse_ref",
    "tag", "tags", "TagChange", "Ref", "check_tag", "parse_ref_or_tag",
    "diff", "status", "verify", "Diff", "FileChange", "Status", "Verification", "Problem",
    "EtcError", "ConfigError", "ConflictError", "DatasetError", "FormatError", "IntegrityError",
    "InvalidNameError", "NotFoundError", "PartitionNotFound", "RemoteError",
    "TransientError",
]
