"""EtcResource: Dagster configuration for etcetera, turned into an `etcetera.Config`.

Give secrets with `dagster.EnvVar` so that only the variable's name is stored in run
configuration; the values are never printed (the secret fields are left out of the repr).
Nothing here reads ~/.etc.toml: every key comes from the resource's fields.
"""

from __future__ import annotations

import os
from typing import Optional

import etcetera
from dagster import ConfigurableResource
from pydantic import Field

__all__ = ["EtcResource"]

# Field names that are etcetera.Config keys, in Config's order.
CONFIG_KEYS = (
    "url", "home", "public", "endpoint_url", "region_name", "aws_access_key_id",
    "aws_secret_access_key", "aws_session_token", "google_application_credentials", "project", "workers",
)


class EtcResource(ConfigurableResource):
    """Where datasets live: a remote (`url`) and a local home, with the credentials to reach the remote.

    Example::

        EtcResource(
            url="s3://my-bucket",
            aws_access_key_id=EnvVar("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=EnvVar("AWS_SECRET_ACCESS_KEY"),
        )
    """

    url: Optional[str] = Field(
        default=None, description="The remote: file:///path, s3://bucket[/prefix] or gs://bucket[/prefix]."
    )
    home: Optional[str] = Field(
        default=None, description="Local folder that holds datasets (default ~/.etc)."
    )
    public: bool = Field(default=False, description="Read a public bucket anonymously (no credentials).")
    endpoint_url: Optional[str] = Field(
        default=None, description="S3-compatible endpoint, e.g. MinIO or Ceph; empty for AWS."
    )
    region_name: Optional[str] = Field(default=None, description="S3 region.")
    aws_access_key_id: Optional[str] = Field(
        default=None, repr=False, description="S3 access key id; use EnvVar."
    )
    aws_secret_access_key: Optional[str] = Field(
        default=None, repr=False, description="S3 secret access key; use EnvVar."
    )
    aws_session_token: Optional[str] = Field(
        default=None, repr=False, description="S3 session token; use EnvVar."
    )
    google_application_credentials: Optional[str] = Field(
        default=None, repr=False,
        description="GCS service account: a path to its JSON file, or the JSON itself; use EnvVar.",
    )
    project: Optional[str] = Field(default=None, description="GCS project.")
    workers: Optional[int] = Field(default=None, description="Parallel transfers (default 16).")

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

        With `source`, the dataset folder is first copied into the home as `name` (replacing the
        local copy).  `force` publishes even when the remote got a newer version meanwhile.
        """
        config = self.get_config()
        if source is not None:
            etcetera.register(source, name, config=config, force=True)
        return etcetera.push(name, config=config, force=force, quiet=True)

    def versions(self, name: str) -> list[int]:
        """The remote's versions of `name`, newest first."""
        return etcetera.versions(name, config=self.get_config())
