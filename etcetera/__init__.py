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
)
from .api import create, dataset, info, ls, pull, purge, push, register, versions  # noqa: E402

__all__ = [
    "Config", "Dataset", "dataset", "register", "create", "purge", "ls", "versions", "info", "push", "pull",
    "EtcError", "ConfigError", "ConflictError", "DatasetError", "FormatError", "IntegrityError",
    "InvalidNameError", "NotFoundError", "PartitionNotFound", "RemoteError",
]
