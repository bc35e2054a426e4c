"""Configuration: `~/.etc.toml` or an `etcetera.Config` built in code.

Orchestrator plugins build a Config from their own secret stores; nothing here is
read implicitly except by `Config.load()`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ._values import FrozenValue, set_field as _set
from .errors import ConfigError

DEFAULT_CONFIG_PATH = "~/.etc.toml"
DEFAULT_HOME = "~/.etc"
DEFAULT_WORKERS = 16
DEFAULT_GIVE_UP_SECONDS = 10.0


class ConfigKey(FrozenValue):
    """One configuration key.  `config_keys()` is the single list that the file format, `repr`,
    and every orchestrator plugin (Airflow connection, Prefect block, Dagster resource) derive from."""

    __slots__ = ("name", "types", "help", "label", "secret")
    name: str
    types: tuple[type, ...]
    help: str
    label: str
    secret: bool

    def __init__(self, name: str, types: tuple[type, ...], help: str, label: str, secret: bool) -> None:
        _set(self, "name", name)
        _set(self, "types", types)
        _set(self, "help", help)
        _set(self, "label", label)
        _set(self, "secret", secret)


def _key(name: str, types: tuple[type, ...], help: str, label: str, *, secret: bool = False) -> ConfigKey:
    """A line of the table below: most keys are not secret."""
    return ConfigKey(name, types, help, label, secret)


# Every Config key, in order: the one table that Config's attributes, validation, `to_dict`, `repr`
# and `config_keys()` (hence the plugins' forms) are driven by.  A new key is a line here and a
# parameter of `Config.__init__` (a test checks that the two agree).
_KEYS: tuple[ConfigKey, ...] = (
    _key("url", (str,), "The remote: file:///path, s3://bucket[/prefix], gs://bucket[/prefix] or "
         "az://container[/prefix].", "Remote URL"),
    _key("home", (str, Path), "Local folder that holds datasets (default ~/.etc).", "Home"),
    _key("public", (bool,), "Public datasets: pushes make objects publicly readable, and readers "
         "without credentials send anonymous requests.", "Public"),
    _key("endpoint_url", (str,), "S3-compatible endpoint (MinIO, Ceph, R2, ...); unset for AWS.", "Endpoint URL"),
    _key("aws_access_key_id", (str,), "S3 access key id.", "AWS Access Key ID", secret=True),
    _key("aws_secret_access_key", (str,), "S3 secret access key.", "AWS Secret Access Key", secret=True),
    _key("aws_session_token", (str,), "S3 session token, for temporary credentials.", "AWS Session Token",
         secret=True),
    _key("region_name", (str,), "S3 region.", "Region"),
    _key("google_application_credentials", (str, dict, Path),
         "GCS service account: a path to its JSON key file, or the JSON itself.", "GCS Service Account", secret=True),
    _key("project", (str,), "GCS project.", "GCS Project"),
    _key("azure_account_name", (str,), "Azure storage account name.", "Azure Account Name"),
    _key("azure_account_key", (str,), "Azure storage account key (shared key).", "Azure Account Key", secret=True),
    _key("azure_sas_token", (str,), "Azure shared access signature (SAS) token.", "Azure SAS Token", secret=True),
    _key("azure_connection_string", (str,), "Azure storage connection string.", "Azure Connection String",
         secret=True),
    _key("azure_account_url", (str,), "Azure blob endpoint (emulators, sovereign clouds); default "
         "https://<account>.blob.core.windows.net.", "Azure Account URL"),
    _key("workers", (int,), f"Parallel transfers (default {DEFAULT_WORKERS}).", "Workers"),
    _key("give_up_seconds", (int, float), f"How long to keep retrying a failing or unreachable remote before "
         f"giving up with an error (default {DEFAULT_GIVE_UP_SECONDS:g}).", "Give Up After (seconds)"),
)


class Config(FrozenValue):
    """Where datasets live locally (`home`) and remotely (`url`), and how to reach the remote.

    `google_application_credentials` is a path to a service-account JSON file, or the
    JSON itself (a dict or a string starting with '{').  Secrets never appear in repr/str.
    A new key is one entry of `_KEYS` (and a parameter here): `config_keys()` carries it to the plugins.
    Immutable and hashable; `replace()` makes a changed copy.
    """

    __slots__ = tuple(k.name for k in _KEYS)
    url: str | None
    home: str | Path | None
    public: bool
    endpoint_url: str | None
    aws_access_key_id: str | None
    aws_secret_access_key: str | None
    aws_session_token: str | None
    region_name: str | None
    google_application_credentials: str | dict | Path | None
    project: str | None
    azure_account_name: str | None
    azure_account_key: str | None
    azure_sas_token: str | None
    azure_connection_string: str | None
    azure_account_url: str | None
    workers: int | None
    give_up_seconds: float | None

    def __init__(self, url: str | None = None, *, home: str | Path | None = None, public: bool = False,
                 endpoint_url: str | None = None, aws_access_key_id: str | None = None,
                 aws_secret_access_key: str | None = None, aws_session_token: str | None = None,
                 region_name: str | None = None, google_application_credentials: str | dict | Path | None = None,
                 project: str | None = None, azure_account_name: str | None = None,
                 azure_account_key: str | None = None, azure_sas_token: str | None = None,
                 azure_connection_string: str | None = None, azure_account_url: str | None = None,
                 workers: int | None = None, give_up_seconds: float | None = None) -> None:
        given = locals()  # the parameters, by name: set in the order of the table
        for key in _KEYS:
            _set(self, key.name, given[key.name])
        self.__post_init__()

    def __post_init__(self) -> None:
        """Check every key's type and range (ConfigError naming the key); strip the url."""
        for key in _KEYS:
            value = getattr(self, key.name)
            if value is None:
                continue
            if key.name == "public" and not isinstance(value, bool):
                raise ConfigError(f"config key 'public' must be true or false, not {type(value).__name__}")
            types = key.types
            if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
                expected = " or ".join(t.__name__ for t in types)
                raise ConfigError(f"config key '{key.name}' must be {expected}, not {type(value).__name__}")
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
            _set(self, "url", url)

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
        """A copy with some keys changed (validated as a new Config is)."""
        values = {key.name: getattr(self, key.name) for key in _KEYS}
        values.update(changes)
        url = values.pop("url")
        return self.__class__(url, **values)

    def to_dict(self, *, secrets: bool = False) -> dict[str, Any]:
        """The keys that are set; secrets masked unless asked for."""
        out = {}
        for key in _KEYS:
            value = getattr(self, key.name)
            if value is None or (key.name == "public" and value is False):
                continue
            out[key.name] = value if secrets or not key.secret else "***"
        return out

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items())
        return f"Config({inner})"

    __str__ = __repr__

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "config") -> "Config":
        """Build a Config from a mapping; unknown keys are an error naming the key."""
        known = {key.name for key in _KEYS}
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
    return _KEYS


SECRET_KEYS = frozenset(k.name for k in config_keys() if k.secret)
