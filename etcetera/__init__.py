"""etcetera: share versioned, content-addressed datasets through cloud storage.

    import etcetera as etc
    ds = etc.dataset("sample", auto_pull=True, config=etc.Config("s3://bucket"))
    ds["train"]  # pathlib.Path
"""

__version__ = "0.1.0"

from .config import Config  # noqa: E402
from .dataset import Dataset  # noqa: E402
from .errors import (  # noqa: E402
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
from .names import check_name, parse_ref  # noqa: E402
from .api import (  # noqa: E402
    PullReport, PushReport, create, dataset, info, ls, pull, pull_report, purge, push, push_report, register, versions,
)

__all__ = [
    "Config", "Dataset", "dataset", "register", "create", "purge", "ls", "versions", "info", "push", "pull",
    "push_report", "pull_report", "PushReport", "PullReport", "check_name", "parse_ref",
    "EtcError", "ConfigError", "ConflictError", "DatasetError", "FormatError", "IntegrityError",
    "InvalidNameError", "NotFoundError", "PartitionNotFound", "RemoteError",
    "TransientError",
]
