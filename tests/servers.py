"""Real S3, GCS and Azure servers on loopback for the backend suite: one moto server, one
fake-gcs-server and one Azurite per test run, a fresh bucket (container) per test.

The fixtures also isolate the test from the machine's cloud credentials (environment
variables, ~/.aws, Application Default Credentials) and from metadata servers, so only what a
test configures is used and no request leaves 127.0.0.1.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import pytest

from etcetera.testing import TEST_KEY_ID, TEST_SECRET, gcs_emulator, make_bucket, make_gcs_bucket, moto_server_process
from etcetera.testing import AZURITE_ACCOUNT, AZURITE_KEY, azurite, make_container

if TYPE_CHECKING:
    from conftest import Remote

REGION = "us-east-1"
_AWS_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
            "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
            "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI")
_GCP_ENV = ("GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "CLOUDSDK_CONFIG")
_AZURE_ENV = ("AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_KEY", "AZURE_STORAGE_ACCOUNT", "AZURE_CLIENT_ID",
              "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_USERNAME",
              "AZURE_PASSWORD", "IDENTITY_ENDPOINT", "MSI_ENDPOINT")


def isolate_cloud_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No ambient credentials, no profile files, no metadata-server probes."""
    for name in (*_AWS_ENV, *_GCP_ENV, *_AZURE_ENV, "STORAGE_EMULATOR_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "no-gcloud"))


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """One moto S3 server (server mode, over HTTP) for the whole test run, in a process of its own: in
    this one it shared the GIL with the tests and the clients they run (a listing took 25 ms instead
    of 10 ms)."""
    with moto_server_process() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def gcs_endpoint() -> Iterator[str]:
    """One fake-gcs-server process (HTTP, in memory) for the whole test run."""
    with gcs_emulator() as url:
        yield url


@pytest.fixture
def s3_remote(s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> "Remote":
    """A fresh bucket on the moto server; credentials travel in the Config/toml only."""
    from conftest import Remote  # here, not at the top: conftest imports this module

    isolate_cloud_env(monkeypatch, tmp_path)
    bucket = make_bucket(s3_endpoint, region=REGION)
    options = {"endpoint_url": s3_endpoint, "aws_access_key_id": TEST_KEY_ID,
               "aws_secret_access_key": TEST_SECRET, "region_name": REGION}
    return Remote("s3", f"s3://{bucket}", options, tmp_path)


@pytest.fixture
def gs_remote(gcs_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
              request: pytest.FixtureRequest) -> "Remote":
    """A fresh bucket on fake-gcs-server, reached through STORAGE_EMULATOR_HOST."""
    from conftest import Remote

    isolate_cloud_env(monkeypatch, tmp_path)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_endpoint)
    bucket = make_gcs_bucket(gcs_endpoint)
    return Remote("gs", f"gs://{bucket}", {"project": "test"}, tmp_path)


@pytest.fixture(scope="session")
def az_endpoint() -> Iterator[str]:
    """One Azurite blob service (HTTP, 127.0.0.1; installed from npm on first use) for the whole
    test run; its development account's URL."""
    with azurite() as account_url:
        yield account_url


@pytest.fixture
def az_remote(az_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> "Remote":
    """A fresh container on Azurite; the development account's key travels in the Config/toml only."""
    from conftest import Remote

    isolate_cloud_env(monkeypatch, tmp_path)
    container = make_container(az_endpoint)
    options = {"azure_account_url": az_endpoint, "azure_account_name": AZURITE_ACCOUNT,
               "azure_account_key": AZURITE_KEY}
    return Remote("az", f"az://{container}", options, tmp_path)
