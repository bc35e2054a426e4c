"""Configuration: `~/.etc.toml` or an `etcetera.Config` built in code.

Orchestrator plugins build a Config from their own secret stores; nothing here is
read implicitly except by `Config.load()`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .errors import ConfigError

DEFAULT_CONFIG_PATH = "~/.etc.toml"
DEFAULT_HOME = "~/.etc"
DEFAULT_WORKERS = 16
DEFAULT_GIVE_UP_SECONDS = 10.0


def _key(types: tuple[type, ...], help: str, label: str, *, secret: bool = False, default: Any = None,
         kw_only: bool = True) -> Any:
    """A Config field carrying what plugins and docs need to know about it (see `config_keys`)."""
    return field(default=default, kw_only=kw_only,
                 metadata={"types": types, "help": help, "label": label, "secret": secret})


@dataclass(frozen=True)
class ConfigKey:
    """One configuration key.  `config_keys()` is the single list that the file format, `repr`,
    and every orchestrator plugin (Airflow connection, Prefect block, Dagster resource) derive from."""

    name: str
    types: tuple[type, ...]
    help: str
    label: str
    secret: bool


@dataclass(frozen=True, repr=False)
class Config:
    """Where datasets live locally (`home`) and remotely (`url`), and how to reach the remote.

    `google_application_credentials` is a path to a service-account JSON file, or the
    JSON itself (a dict or a string starting with '{').  Secrets never appear in repr/str.
    A new key is one field here: `config_keys()` carries it to the plugins.
    """

    url: str | None = _key((str,), "The remote: file:///path, s3://bucket[/prefix], gs://bucket[/prefix] or "
                           "az://container[/prefix].",
                           "Remote URL", kw_only=False)
    home: str | Path | None = _key((str, Path), "Local folder that holds datasets (default ~/.etc).", "Home")
    public: bool = _key((bool,), "Public datasets: pushes make objects publicly readable, and readers "
                        "without credentials send anonymous requests.", "Public", default=False)
    endpoint_url: str | None = _key((str,), "S3-compatible endpoint (MinIO, Ceph, R2, ...); unset for AWS.",
                                    "Endpoint URL")
    aws_access_key_id: str | None = _key((str,), "S3 access key id.", "AWS Access Key ID", secret=True)
    aws_secret_access_key: str | None = _key((str,), "S3 secret access key.", "AWS Secret Access Key",
                                             secret=True)
    aws_session_token: str | None = _key((str,), "S3 session token, for temporary credentials.",
                                         "AWS Session Token", secret=True)
    region_name: str | None = _key((str,), "S3 region.", "Region")
    google_application_credentials: str | dict | Path | None = _key(
        (str, dict, Path), "GCS service account: a path to its JSON key file, or the JSON itself.",
        "GCS Service Account", secret=True)
    project: str | None = _key((str,), "GCS project.", "GCS Project")
    azure_account_name: str | None = _key((str,), "Azure storage account name.", "Azure Account Name")
    azure_account_key: str | None = _key((str,), "Azure storage account key (shared key).", "Azure Account Key",
                                         secret=True)
    azure_sas_token: str | None = _key((str,), "Azure shared access signature (SAS) token.", "Azure SAS Token",
                                       secret=True)
    azure_connection_string: str | None = _key((str,), "Azure storage connection string.",
                                               "Azure Connection String", secret=True)
    azure_account_url: str | None = _key((str,), "Azure blob endpoint (emulators, sovereign clouds); default "
                                         "https://<account>.blob.core.windows.net.", "Azure Account URL")
    workers: int | None = _key((int,), f"Parallel transfers (default {DEFAULT_WORKERS}).", "Workers")
    give_up_seconds: float | None = _key(
        (int, float), f"How long to keep retrying a failing or unreachable remote before giving up "
        f"with an error (default {DEFAULT_GIVE_UP_SECONDS:g}).", "Give Up After (seconds)")

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if f.name == "public" and not isinstance(value, bool):
                raise ConfigError(f"config key 'public' must be true or false, not {type(value).__name__}")
            types = f.metadata["types"]
            if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
                expected = " or ".join(t.__name__ for t in types)
                raise ConfigError(f"config key '{f.name}' must be {expected}, not {type(value).__name__}")
        if self.workers is not None and not 1 <= self.workers <= 256:
            raise ConfigError(f"config key 'workers' must be between 1 and 256, not {self.workers}")
        if self.give_up_seconds is not None and not 0 < self.give_up_seconds <= 3600:
            raise ConfigError(f"config key 'give_up_seconds' must be more than 0 and at most 3600, "
                              f"not {self.give_up_seconds}")
        if self.url is not None:
            url = self.url.strip()
            if "://" not in url:
                raise ConfigError(
                    f"config key 'url' must look like file:///path, s3://bucket or gs://bucket, not {url!r}"
                )
            object.__setattr__(self, "url", url)

    @property
    def home_path(self) -> Path:
        """The local folder that holds datasets (default ~/.etc)."""
        return Path(os.path.expanduser(str(self.home or DEFAULT_HOME))).absolute()

    @property
    def worker_count(self) -> int:
        """Parallel transfers: the configured `workers`, else 16 (I/O bound, not CPU bound)."""
        return self.workers or DEFAULT_WORKERS

    @property
    def give_up(self) -> float:
        """Seconds to keep retrying a failing remote before an operation gives up."""
        return float(self.give_up_seconds or DEFAULT_GIVE_UP_SECONDS)

    def service_account_info(self) -> dict | None:
        """The GCS service-account JSON as a dict when given inline, else None (a path or nothing)."""
        creds = self.google_application_credentials
        if isinstance(creds, dict):
            return creds
        if isinstance(creds, str) and creds.lstrip().startswith("{"):
            import json

            try:
                return json.loads(creds)
            except ValueError:
                raise ConfigError("config key 'google_application_credentials' holds invalid JSON") from None
        return None

    def replace(self, **changes: Any) -> "Config":
        """A copy with some keys changed."""
        return replace(self, **changes)

    def to_dict(self, *, secrets: bool = False) -> dict[str, Any]:
        """The keys that are set; secrets masked unless asked for."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None or (f.name == "public" and value is False):
                continue
            out[f.name] = value if secrets or not f.metadata["secret"] else "***"
        return out

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items())
        return f"Config({inner})"

    __str__ = __repr__

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "config") -> "Config":
        """Build a Config from a mapping; unknown keys are an error naming the key."""
        known = {f.name for f in fields(cls)}
        for key in data:
            if key not in known:
                raise ConfigError(
                    f"{source}: unknown key '{key}' (known keys: {', '.join(sorted(known))})"
                )
        try:
            return cls(**data)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> "Config":
        """Read `path`, else $ETC_CONFIG, else ~/.etc.toml; a missing default file means defaults."""
        explicit = path is not None or bool(os.environ.get("ETC_CONFIG"))
        raw = path if path is not None else os.environ.get("ETC_CONFIG") or DEFAULT_CONFIG_PATH
        file = Path(os.path.expanduser(str(raw)))
        try:
            text = file.read_text(encoding="utf-8")
        except FileNotFoundError:
            if explicit:
                raise ConfigError(f"config file {file} does not exist: create it or fix --config/ETC_CONFIG") from None
            return cls()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read config file {file}: {exc.__class__.__name__}") from None
        import tomllib  # only a configuration file needs the parser (`etc --version` starts without it)

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file} is not valid TOML ({exc}): fix the syntax, e.g. url = \"s3://bucket\"") from None
        return cls.from_dict(data, source=str(file))


def config_keys() -> tuple[ConfigKey, ...]:
    """Every Config key, in order, with its accepted types, help text, UI label and secrecy."""
    return tuple(ConfigKey(f.name, f.metadata["types"], f.metadata["help"], f.metadata["label"],
                           f.metadata["secret"]) for f in fields(Config))


SECRET_KEYS = frozenset(k.name for k in config_keys() if k.secret)
