"""The `EtcRepository` block: where an etcetera repository lives and how to reach it.

Prefect stores the block (secrets encrypted, shown masked in the UI); `get_config()` turns it
into an `etcetera.Config`, the only place where secret values are unwrapped.  Nothing here
reads `~/.etc.toml`.
"""

from __future__ import annotations

from typing import Any, ClassVar, Optional

import etcetera as etc
from prefect.blocks.core import Block
from prefect.types import SecretDict
from pydantic import Field, SecretStr, ValidationInfo, field_validator


class EtcRepository(Block):
    """An etcetera dataset repository (file://, s3:// or gs://) and the credentials to reach it.

    Attributes:
        url: The remote, e.g. `s3://bucket/prefix`, `gs://bucket` or `file:///shared/datasets`.
        home: Local folder that holds pulled and pushed datasets (default `~/.etc` of the worker).
        public: Read a public bucket anonymously (no credentials).
        endpoint_url: An S3-compatible endpoint (MinIO, Ceph, R2, ...) instead of AWS.
        region_name: The S3 region.
        aws_access_key_id: S3 access key id.
        aws_secret_access_key: S3 secret access key (stored as a secret).
        aws_session_token: Temporary S3 session token (stored as a secret).
        service_account_info: GCS service-account JSON (stored as a secret).
        service_account_file: Path to a GCS service-account JSON file on the worker.
        project: The GCS project.
        workers: Parallel transfers (default 16).

    Example:
        ```python
        from prefect_etcetera import EtcRepository

        repository = EtcRepository.load("BLOCK_NAME")
        config = repository.get_config()
        ```
    """

    _block_type_name: ClassVar[str] = "Etcetera Repository"
    _block_type_slug: ClassVar[str] = "etcetera-repository"
    # No public logo is hosted for etcetera yet; the Prefect UI then shows its default icon.
    _logo_url: ClassVar[Optional[str]] = None
    _description: ClassVar[str] = (
        "Where etcetera datasets are shared (S3, S3-compatible, GCS or a folder) and the "
        "credentials to reach it; used by the push_dataset and pull_dataset tasks."
    )
    _code_example: ClassVar[str] = """
        from prefect_etcetera import EtcRepository, pull_dataset

        repository = EtcRepository.load("BLOCK_NAME")
        path = pull_dataset("mnist", repository)
        """

    url: str = Field(
        default=...,
        description="Remote URL: s3://bucket[/prefix], gs://bucket[/prefix] or file:///path.",
        examples=["s3://my-datasets", "gs://my-datasets/team", "file:///mnt/shared/datasets"],
    )
    home: Optional[str] = Field(
        default=None, description="Local folder for datasets on the worker (default ~/.etc)."
    )
    public: bool = Field(default=False, description="Read a public bucket anonymously.")
    endpoint_url: Optional[str] = Field(
        default=None, title="Endpoint URL", description="S3-compatible endpoint (MinIO, Ceph, R2, ...)."
    )
    region_name: Optional[str] = Field(default=None, title="Region", description="S3 region.")
    aws_access_key_id: Optional[str] = Field(default=None, title="AWS Access Key ID")
    aws_secret_access_key: Optional[SecretStr] = Field(default=None, title="AWS Secret Access Key")
    aws_session_token: Optional[SecretStr] = Field(
        default=None, title="AWS Session Token", description="Only for temporary credentials."
    )
    service_account_info: Optional[SecretDict] = Field(
        default=None, title="GCS Service Account Info", description="The service-account JSON key itself."
    )
    service_account_file: Optional[str] = Field(
        default=None,
        title="GCS Service Account File",
        description="Path to a service-account JSON key file on the worker.",
    )
    project: Optional[str] = Field(default=None, title="GCS Project")
    workers: Optional[int] = Field(
        default=None, ge=1, le=256, description="Parallel transfers (default 16)."
    )

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        try:
            return etc.Config(value).url or value
        except etc.ConfigError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("service_account_file")
    @classmethod
    def _one_service_account(cls, value: Optional[str], info: ValidationInfo) -> Optional[str]:
        # A field validator, not a model one: pydantic's error then quotes only this field's
        # value, never the whole input with its secrets.
        if value and info.data.get("service_account_info") is not None:
            raise ValueError("set service_account_info or service_account_file, not both")
        return value

    def get_config(self) -> etc.Config:
        """The `etcetera.Config` for this repository; secrets are unwrapped only here."""
        options: dict[str, Any] = {
            "home": self.home,
            "public": self.public,
            "endpoint_url": self.endpoint_url,
            "region_name": self.region_name,
            "aws_access_key_id": self.aws_access_key_id,
            "aws_secret_access_key": _reveal(self.aws_secret_access_key),
            "aws_session_token": _reveal(self.aws_session_token),
            "google_application_credentials": _reveal(self.service_account_info) or self.service_account_file,
            "project": self.project,
            "workers": self.workers,
        }
        return etc.Config(self.url, **{k: v for k, v in options.items() if v is not None and v != ""})


def _reveal(secret: SecretStr | SecretDict | None) -> Any:
    return secret.get_secret_value() if secret is not None else None
