"""Turn an Airflow connection of type `etcetera` into an `etcetera.Config`.

The connection is the only source: `login` is the AWS access key id, `password` the AWS
secret access key, and the `extra` JSON holds every other Config key (url, endpoint_url,
public, region_name, google_application_credentials as a path or the service-account JSON
itself, home, ...). `~/.etc.toml` is never read.
"""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any, Protocol

from etcetera import Config, ConfigError

CONN_TYPE = "etcetera"
#: Config keys that may come from the connection's extra JSON.
EXTRA_KEYS: tuple[str, ...] = tuple(f.name for f in fields(Config))
_FORM_PREFIX = f"extra__{CONN_TYPE}__"
_BOOL_WORDS = {"true": True, "yes": True, "1": True, "on": True,
               "false": False, "no": False, "0": False, "off": False}


class ConnectionLike(Protocol):
    """The parts of an Airflow Connection that the mapping reads."""

    conn_id: str
    login: str | None
    password: str | None
    extra: str | None


def _extra(conn: ConnectionLike) -> dict[str, Any]:
    """The extra JSON as a dict, with UI form prefixes (`extra__etcetera__url`) removed."""
    raw = conn.extra
    if not raw:
        return {}
    try:
        data = json.loads(raw) if isinstance(raw, str) else dict(raw)
    except ValueError:
        # Never echo the text: it may hold a service-account key.
        raise ConfigError(f"connection {conn.conn_id!r}: extra is not valid JSON") from None
    if not isinstance(data, dict):
        raise ConfigError(f"connection {conn.conn_id!r}: extra must be a JSON object")
    out: dict[str, Any] = {}
    for key, value in data.items():
        key = key.removeprefix(_FORM_PREFIX)
        # Empty form fields arrive as "" or null: they mean "not set".
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        out[key] = value
    return out


def _coerce(key: str, value: Any, conn_id: str) -> Any:
    """Form fields arrive as strings: turn them into the types Config wants."""
    if key == "public" and isinstance(value, str):
        word = value.strip().lower()
        if word not in _BOOL_WORDS:
            raise ConfigError(f"connection {conn_id!r}: extra 'public' must be true or false")
        return _BOOL_WORDS[word]
    if key == "workers" and isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if key in ("url", "endpoint_url", "region_name", "home") and isinstance(value, str):
        return value.strip()
    return value


def config_from_connection(conn: ConnectionLike) -> Config:
    """Build the Config for `conn`; errors name the connection and key, never a value."""
    data = {key: _coerce(key, value, conn.conn_id) for key, value in _extra(conn).items()}
    if conn.login:
        data["aws_access_key_id"] = conn.login
    if conn.password:
        data["aws_secret_access_key"] = conn.password
    if not data.get("url"):
        raise ConfigError(
            f"connection {conn.conn_id!r} has no remote: set extra 'url' "
            "(file:///path, s3://bucket or gs://bucket)"
        )
    return Config.from_dict(data, source=f"connection {conn.conn_id!r}")


def secret_values(config: Config) -> list[str]:
    """Every secret string in `config` (for the log masker): keys, token, service-account key."""
    out: list[str] = []
    for key in ("aws_access_key_id", "aws_secret_access_key", "aws_session_token"):
        value = getattr(config, key)
        if value:
            out.append(value)
    creds = config.google_application_credentials
    info = config.service_account_info() if creds is not None else None
    if info is not None:
        if isinstance(creds, str):
            out.append(creds)
        for key in ("private_key", "private_key_id", "client_secret", "refresh_token"):
            if isinstance(info.get(key), str) and info[key]:
                out.append(info[key])
    return out


def asset_uri(url: str, name: str) -> str:
    """The Airflow Asset URI of dataset `name` on remote `url`: etc://<backend>/<bucket-or-path>/<name>.

    s3://bucket/prefix -> etc://s3/bucket/prefix/<name>; file:///srv/etc -> etc://file/srv/etc/<name>.
    """
    scheme, _, rest = url.partition("://")
    rest = rest.strip("/")
    location = f"{scheme.lower()}/{rest}" if rest else scheme.lower()
    return f"etc://{location}/{name}"
