"""Turn an Airflow connection of type `etcetera` into an `etcetera.Config`.

The connection is the only source: `login` is the AWS access key id, `password` the AWS
secret access key, and the `extra` JSON holds every other Config key (url, endpoint_url,
public, region_name, google_application_credentials as a path or the service-account JSON
itself, home, workers, give_up_seconds, ...). `~/.etc.toml` is never read.

Which keys exist, their types and which are secret all come from `etcetera.config.config_keys()`,
so a new Config key reaches the connection, its form and the log masker without an edit here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

from etcetera import Config, ConfigError, dataset_uri
from etcetera.config import ConfigKey, config_keys

CONN_TYPE = "etcetera"
#: Connection attributes that hold a Config key instead of an extra field.
LOGIN_KEYS: dict[str, str] = {"login": "aws_access_key_id", "password": "aws_secret_access_key"}
#: Config keys that may come from the connection's extra JSON (all of them).
EXTRA_KEYS: tuple[str, ...] = tuple(key.name for key in config_keys())
#: Config keys shown as extra fields of the connection form (login/password cover the AWS key pair).
FORM_KEYS: tuple[ConfigKey, ...] = tuple(key for key in config_keys() if key.name not in LOGIN_KEYS.values())
#: Fields of a service-account JSON that are secret (client_email, type, ... are not).
_PRIVATE_JSON_FIELDS = ("private_key", "private_key_id", "client_secret", "refresh_token")
_FORM_PREFIX = f"extra__{CONN_TYPE}__"
_BOOL_WORDS = {"true": True, "yes": True, "1": True, "on": True,
               "false": False, "no": False, "0": False, "off": False}
_KEYS = {key.name: key for key in config_keys()}


def label_of(name: str) -> str:
    """The UI label of Config key `name`."""
    return _KEYS[name].label


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
    """Form fields arrive as strings: turn them into the type the Config key wants.

    A string that does not parse is passed on unchanged, so that Config names the key and the
    type it wants (never the value).  Unknown keys pass through for Config to name.
    """
    spec = _KEYS.get(key)
    if spec is None or not isinstance(value, str):
        return value
    text = value.strip()
    if bool in spec.types:
        if text.lower() not in _BOOL_WORDS:
            raise ConfigError(f"connection {conn_id!r}: extra {key!r} must be true or false")
        return _BOOL_WORDS[text.lower()]
    if str in spec.types:
        # Secrets are passed on verbatim: they are not ours to edit.
        return value if spec.secret else text
    if float in spec.types:
        try:
            return float(text)
        except ValueError:
            return value
    if int in spec.types and text.isascii() and text.isdigit():
        return int(text)
    return value


def config_from_connection(conn: ConnectionLike) -> Config:
    """Build the Config for `conn`; errors name the connection and key, never a secret."""
    data = {key: _coerce(key, value, conn.conn_id) for key, value in _extra(conn).items()}
    for attribute, key in LOGIN_KEYS.items():
        if value := getattr(conn, attribute):
            data[key] = value
    if not data.get("url"):
        raise ConfigError(
            f"connection {conn.conn_id!r} has no remote: set extra 'url' "
            "(file:///path, s3://bucket, gs://bucket or az://container)"
        )
    return Config.from_dict(data, source=f"connection {conn.conn_id!r}")


def secret_values(config: Config) -> list[str]:
    """Every secret string in `config`, for the log masker: the value of each secret Config key,
    and for JSON given inline (a service account) its private fields too.

    A secret key that also accepts a path holds either the secret or the path to a file with
    it; a path is not the secret and is not masked.
    """
    out: list[str] = []
    for key in config_keys():
        value = getattr(config, key.name)
        if not key.secret or value is None:
            continue
        info = value if isinstance(value, dict) else None
        if isinstance(value, str) and value.lstrip().startswith("{"):
            out.append(value)
            try:
                info = json.loads(value)
            except ValueError:
                info = None
        elif isinstance(value, Path) or (isinstance(value, str) and Path in key.types):
            continue
        elif isinstance(value, str) and value:
            out.append(value)
        if isinstance(info, dict):
            out.extend(info[f] for f in _PRIVATE_JSON_FIELDS if isinstance(info.get(f), str) and info[f])
    return out


asset_uri = dataset_uri  # the Airflow Asset URI: etcetera.dataset_uri, one rule for every plugin
