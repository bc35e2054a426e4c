"""Fixtures for the reliability suite: a CLI user, file:// remotes (from tests/conftest.py), and S3
(a loopback moto server), GCS (fake-gcs-server) and Azure (Azurite, the session's one from
tests/servers.py) remotes reached through the fault-injecting proxy (faultproxy.py)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from etcetera.testing import TEST_KEY_ID, TEST_SECRET

from . import stats

REGION = "us-east-1"
_CLOUD_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
              "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
              "GOOGLE_APPLICATION_CREDENTIALS", "STORAGE_EMULATOR_HOST", "AZURE_STORAGE_CONNECTION_STRING",
              "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE",
              "IDENTITY_ENDPOINT", "MSI_ENDPOINT")


@pytest.fixture
def user(tmp_path: Path) -> Path:
    """The $HOME of the person running `etc` (tests/conftest.py creates it)."""
    return tmp_path / "user"


@pytest.fixture(scope="session")
def moto_endpoint(s3_endpoint: str) -> str:
    """The run's moto S3 server (server mode, HTTP on 127.0.0.1; tests/servers.py) for the reliability suite."""
    return s3_endpoint


@pytest.fixture
def s3_isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No ambient cloud credentials or profiles: only what a test configures is used."""
    for name in _CLOUD_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def s3_proxied(moto_endpoint: str, tmp_path: Path, s3_isolated: None) -> Iterator[Callable[..., Any]]:
    """make(**proxy_options) -> (Remote, FaultProxy): a fresh bucket reached through a fault proxy."""
    from conftest import Remote
    from etcetera.testing import make_bucket
    from .faultproxy import FaultProxy

    with contextlib.ExitStack() as stack:
        def make(**options: Any):
            proxy = stack.enter_context(FaultProxy(moto_endpoint, **options))
            stack.callback(lambda: stats.FAULTS.update(proxy.faults))
            bucket = make_bucket(moto_endpoint, region=REGION)
            remote = Remote("s3", f"s3://{bucket}", {
                "endpoint_url": proxy.url, "aws_access_key_id": TEST_KEY_ID,
                "aws_secret_access_key": TEST_SECRET, "region_name": REGION}, tmp_path)
            return remote, proxy

        yield make


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """One line with what the suite did: crash points, faults, hostile inputs, leaks."""
    if stats.CRASH_POINTS or stats.FAULTS or stats.HOSTILE_INPUTS:
        terminalreporter.write_line(stats.summary())


@pytest.fixture(scope="session")
def gcs_emulator_url() -> Iterator[str]:
    """One fake-gcs-server process (HTTP on 127.0.0.1, in memory) for the suite."""
    pytest.importorskip("google.cloud.storage")
    from etcetera.testing import gcs_emulator

    with gcs_emulator() as url:
        yield url


@pytest.fixture
def gcs_proxied(gcs_emulator_url: str, tmp_path: Path, s3_isolated: None,
                monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Any]]:
    """make(**proxy_options) -> (Remote, FaultProxy): a fresh GCS bucket reached through a fault proxy
    (STORAGE_EMULATOR_HOST points at the proxy, for this process and the `etc` it starts)."""
    from conftest import Remote
    from etcetera.testing import make_gcs_bucket

    from .faultproxy import FaultProxy

    monkeypatch.setenv("NO_GCE_CHECK", "true")
    with contextlib.ExitStack() as stack:
        def make(**options: Any):
            proxy = stack.enter_context(FaultProxy(gcs_emulator_url, **options))
            stack.callback(lambda: stats.FAULTS.update(proxy.faults))
            monkeypatch.setenv("STORAGE_EMULATOR_HOST", proxy.url)
            bucket = make_gcs_bucket(gcs_emulator_url)
            return Remote("gs", f"gs://{bucket}", {"project": "test"}, tmp_path), proxy

        yield make


@pytest.fixture
def az_proxied(az_endpoint: str, tmp_path: Path, s3_isolated: None) -> Iterator[Callable[..., Any]]:
    """make(**proxy_options) -> (Remote, FaultProxy): a fresh Azurite container reached through a fault
    proxy (`azure_account_url` points at the proxy; `az_endpoint` reaches Azurite directly)."""
    from conftest import Remote
    from etcetera.testing import AZURITE_ACCOUNT, AZURITE_KEY, make_container

    from .faultproxy import FaultProxy

    with contextlib.ExitStack() as stack:
        def make(**options: Any):
            proxy = stack.enter_context(FaultProxy(az_endpoint.rsplit("/", 1)[0], **options))
            stack.callback(lambda: stats.FAULTS.update(proxy.faults))
            container = make_container(az_endpoint)
            remote = Remote("az", f"az://{container}", {
                "azure_account_url": f"{proxy.url}/{AZURITE_ACCOUNT}", "azure_account_name": AZURITE_ACCOUNT,
                "azure_account_key": AZURITE_KEY}, tmp_path)
            return remote, proxy

        yield make
