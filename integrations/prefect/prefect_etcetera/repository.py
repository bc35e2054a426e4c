"""The `EtcRepository` block: where an etcetera repository lives and how to reach it.

Prefect stores the block (secrets encrypted, shown masked in the UI); `get_config()` turns it
into an `etcetera.Config`, the only place where secret values are unwrapped.  Nothing here
reads `~/.etc.toml`.
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar, Optional

import etcetera as etc
from etcetera.config import config_keys
from prefect.blocks.core import Block
from prefect.types import SecretDict
from pydantic import ConfigDict, Field, SecretStr, ValidationInfo, field_validator

#: Block fields of a Config key, tried in order, when there are more than the one named like the key
#: (service_account_info / service_account_file are the deprecated names of google_application_credentials).
FIELDS_OF: dict[str, tuple[str, ...]] = {
    "google_application_credentials": ("google_application_credentials", "service_account_info",
                                       "service_account_file"),
}
_DEPRECATED = {"service_account_info": "google_application_credentials (the JSON itself)",
               "service_account_file": "google_application_credentials (a path to the JSON)"}
_KEYS = {key.name: key for key in config_keys()}


def _documentation_url() -> Optional[str]:
    """The "Documentation" Project-URL of the installed package (shown as the block's docs link
    in the UI), or None while none is declared."""
    from importlib.metadata import PackageNotFoundError, metadata

    try:
        urls = metadata("prefect-etcetera").get_all("Project-URL") or []
    except PackageNotFoundError:
        return None
    found = [url.strip() for label, _, url in (u.partition(",") for u in urls) if label.strip().lower() == "documentation"]
    return found[0] if found else None


def _key_field(name: str, default: Any = None, **extra: Any) -> Any:
    """The block field of Config key `name`, titled and described by `config_keys()`."""
    key = _KEYS[name]
    return Field(default=default, **{"title": key.label, "description": key.help, **extra})


class EtcRepository(Block):
    """An etcetera dataset repository (file://, s3://, gs:// or az://) and the credentials to reach it.

    Attributes:
        url: The remote, e.g. `s3://bucket/prefix`, `gs://bucket`, `az://container` or `file:///shared/datasets`.
        home: Local folder that holds pulled and pushed datasets (default `~/.etc` of the worker).
        public: Read a public bucket anonymously (no credentials).
        endpoint_url: An S3-compatible endpoint (MinIO, Ceph, R2, ...) instead of AWS.
        region_name: The S3 region.
        aws_access_key_id: S3 access key id (stored as a secret).
        aws_secret_access_key: S3 secret access key (stored as a secret).
        aws_session_token: Temporary S3 session token (stored as a secret).
        google_application_credentials: GCS service-account JSON, or a path to it on the worker
            (stored as a secret). `service_account_info` / `service_account_file` are its
            deprecated former names: they still work and warn.
        project: The GCS project.
        azure_account_name: The Azure storage account.
        azure_account_key: Azure account key (stored as a secret).
        azure_sas_token: Azure SAS token (stored as a secret).
        azure_connection_string: Azure connection string (stored as a secret).
        azure_account_url: The Azure blob endpoint (emulators, sovereign clouds).
        workers: Parallel transfers (default 16).
        give_up_seconds: How long to keep retrying a failing remote before giving up (default 10).

    Every `etcetera.Config` key is a field (see `etcetera.config.config_keys()`, which also
    gives their titles and descriptions); secret keys are stored as secrets.

    Example:
        ```python
        from prefect_etcetera import EtcRepository

        repository = EtcRepository.load("BLOCK_NAME")
        config = repository.get_config()
        ```
    """

    # A value of the wrong type must not be echoed by pydantic's error: it may be a secret.
    model_config = ConfigDict(hide_input_in_errors=True)

    _block_type_name: ClassVar[str] = "Etcetera Repository"
    _block_type_slug: ClassVar[str] = "etcetera-repository"
    # No public logo is hosted for etcetera yet; the Prefect UI then shows its default icon.
    _logo_url: ClassVar[Optional[str]] = None
    _documentation_url: ClassVar[Optional[str]] = _documentation_url()
    _description: ClassVar[str] = (
        "Where etcetera datasets are shared (S3, S3-compatible, GCS, Azure Blob Storage or a folder) and the "
        "credentials to reach it; used by the push_dataset and pull_dataset tasks."
    )
    _code_example: ClassVar[str] = """
        from prefect_etcetera import EtcRepository, pull_dataset

        repository = EtcRepository.load("BLOCK_NAME")
        path = pull_dataset("mnist", repository)
        """

    # One field per etcetera.Config key (title and description from `config_keys()`); secret
    # keys are SecretStr/SecretDict.  google_application_credentials has two deprecated former names, see FIELDS_OF.
    url: str = _key_field(
        "url", default=..., examples=["s3://my-datasets", "gs://my-datasets/team", "file:///mnt/shared/datasets"]
    )
    home: Optional[str] = _key_field("home")
    public: bool = _key_field("public", default=False)
    endpoint_url: Optional[str] = _key_field("endpoint_url")
    aws_access_key_id: Optional[SecretStr] = _key_field("aws_access_key_id")
    aws_secret_access_key: Optional[SecretStr] = _key_field("aws_secret_access_key")
    aws_session_token: Optional[SecretStr] = _key_field("aws_session_token")
    region_name: Optional[str] = _key_field("region_name")
    google_application_credentials: Optional[SecretStr] = _key_field("google_application_credentials")
    service_account_info: Optional[SecretDict] = _key_field(
        "google_application_credentials", title="GCS Service Account Info (deprecated)",
        description="Deprecated: put the JSON in google_application_credentials.",
    )
    service_account_file: Optional[str] = _key_field(
        "google_application_credentials", title="GCS Service Account File (deprecated)",
        description="Deprecated: put the path in google_application_credentials.",
    )
    project: Optional[str] = _key_field("project")
    azure_account_name: Optional[str] = _key_field("azure_account_name")
    azure_account_key: Optional[SecretStr] = _key_field("azure_account_key")
    azure_sas_token: Optional[SecretStr] = _key_field("azure_sas_token")
    azure_connection_string: Optional[SecretStr] = _key_field("azure_connection_string")
    azure_account_url: Optional[str] = _key_field("azure_account_url")
    workers: Optional[int] = _key_field("workers", ge=1, le=256)
    give_up_seconds: Optional[float] = _key_field("give_up_seconds", gt=0, le=3600)

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        try:
            return etc.Config(value).url or value
        except etc.ConfigError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("service_account_info", "service_account_file")
    @classmethod
    def _one_service_account(cls, value: Any, info: ValidationInfo) -> Any:
        # A field validator, not a model one: pydantic's error then quotes only this field's
        # value, never the whole input with its secrets.
        if value is None or value == "":
            return value
        if info.data.get("google_application_credentials") is not None:
            raise ValueError(f"set google_application_credentials or {info.field_name}, not both")
        if info.field_name == "service_account_file" and info.data.get("service_account_info") is not None:
            raise ValueError("set service_account_info or service_account_file, not both")
        warnings.warn(f"EtcRepository.{info.field_name} is deprecated: use {_DEPRECATED[info.field_name]}",
                      DeprecationWarning, stacklevel=2)
        return value

    def get_config(self) -> etc.Config:
        """The `etcetera.Config` for this repository; secrets are unwrapped only here."""
        values: dict[str, Any] = {}
        for key in config_keys():
            for field in FIELDS_OF.get(key.name, (key.name,)):
                value = _reveal(getattr(self, field))
                if value is not None and value != "":
                    values[key.name] = value
                    break
        return etc.Config.from_dict(values, source="EtcRepository block")


def _reveal(value: Any) -> Any:
    """The value of a field, unwrapped when it is a secret."""
    return value.get_secret_value() if isinstance(value, (SecretStr, SecretDict)) else value
