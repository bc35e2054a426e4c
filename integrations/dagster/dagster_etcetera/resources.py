"""EtcResource: Dagster configuration for etcetera, turned into an `etcetera.Config`.

Give secrets with `dagster.EnvVar` so that only the variable's name is stored in run
configuration; the values are never printed (the secret fields are left out of the repr).
Nothing here reads ~/.etc.toml: every key comes from the resource's fields, one per key of
`etcetera.config.config_keys()`, which also gives each field's help text and secrecy.
"""

from __future__ import annotations

import os
from typing import Any, Optional

import etcetera
from dagster import ConfigurableResource
from etcetera.config import config_keys
from pydantic import ConfigDict, Field

__all__ = ["EtcResource"]

_KEYS = {key.name: key for key in config_keys()}
#: Field names that are etcetera.Config keys, in Config's order: all of them (a test checks).
CONFIG_KEYS: tuple[str, ...] = tuple(_KEYS)


def _key_field(name: str, default: Any = None) -> Any:
    """The field of Config key `name`: its help text from `config_keys()`, and kept out of the
    repr when the key is secret."""
    key = _KEYS[name]
    help_text = f"{key.help} Use EnvVar." if key.secret else key.help
    return Field(default=default, title=key.label, description=help_text, repr=not key.secret)


class EtcResource(ConfigurableResource):
    """Where datasets live: a remote (`url`) and a local home, with the credentials to reach the remote.

    One field per `etcetera.Config` key (see `etcetera.config.config_keys()`).

    Example::

        EtcResource(
            url="s3://my-bucket",
            aws_access_key_id=EnvVar("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=EnvVar("AWS_SECRET_ACCESS_KEY"),
            give_up_seconds=30,
        )
    """

    # A value of the wrong type must not be echoed by pydantic's error: it may be a secret.
    model_config = ConfigDict(hide_input_in_errors=True)

    url: Optional[str] = _key_field("url")
    home: Optional[str] = _key_field("home")
    public: bool = _key_field("public", default=False)
    endpoint_url: Optional[str] = _key_field("endpoint_url")
    aws_access_key_id: Optional[str] = _key_field("aws_access_key_id")
    aws_secret_access_key: Optional[str] = _key_field("aws_secret_access_key")
    aws_session_token: Optional[str] = _key_field("aws_session_token")
    region_name: Optional[str] = _key_field("region_name")
    google_application_credentials: Optional[str] = _key_field("google_application_credentials")
    project: Optional[str] = _key_field("project")
    azure_account_name: Optional[str] = _key_field("azure_account_name")
    azure_account_key: Optional[str] = _key_field("azure_account_key")
    azure_sas_token: Optional[str] = _key_field("azure_sas_token")
    azure_connection_string: Optional[str] = _key_field("azure_connection_string")
    azure_account_url: Optional[str] = _key_field("azure_account_url")
    workers: Optional[int] = _key_field("workers")
    give_up_seconds: Optional[float] = _key_field("give_up_seconds")

    def get_config(self) -> etcetera.Config:
        """The `etcetera.Config` these fields describe; empty strings count as unset."""
        values = {}
        for key in CONFIG_KEYS:
            value = getattr(self, key)
            if value is None or value == "":
                continue
            if key == "home":
                value = os.path.expanduser(value)
            values[key] = value
        url = values.pop("url", None)
        return etcetera.Config(url, **values)

    def dataset(self, name: str, version: Optional[int] = None) -> etcetera.Dataset:
        """The dataset `name` (at `version` if given) from the local home, pulled first when missing."""
        ref = f"{name}@{version}" if version is not None else name
        return etcetera.dataset(ref, auto_pull=True, config=self.get_config())

    def pull(self, name: str, version: Optional[int] = None) -> etcetera.Dataset:
        """Bring the local copy of `name` to `version` (default: the remote's latest) and return it."""
        ref = f"{name}@{version}" if version is not None else name
        return etcetera.pull(ref, config=self.get_config(), quiet=True)

    def push(self, name: str, source: Optional[str | os.PathLike] = None, *, force: bool = False) -> str:
        """Publish `name` as a new version and return 'name@version'.

        With `source`, that dataset folder is published straight from where it is (nothing is
        copied into the home, the folder is only read).  `force` publishes even when the remote got
        a newer version meanwhile.
        """
        return etcetera.push(name, config=self.get_config(), force=force, quiet=True, source=source)

    def versions(self, name: str) -> list[int]:
        """The remote's versions of `name`, newest first."""
        return etcetera.versions(name, config=self.get_config())
