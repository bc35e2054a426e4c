"""Fixtures: dataset folders, a file:// remote, a moto S3 server on loopback, a throw-away Dagster instance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterator

import pytest
from dagster import DagsterInstance, instance_for_test

from dagster_etcetera import EtcResource
from etcetera.testing import make_bucket, moto_server


@pytest.fixture
def make_dataset(tmp_path: Path) -> Callable[..., Path]:
    """make_dataset(files={'train/a.txt': b'..'}, meta={...}) -> a dataset folder under tmp_path/src."""
    counter = iter(range(1000))

    def make(files: dict[str, bytes] | None = None, meta: object = None) -> Path:
        root = tmp_path / "src" / f"ds{next(counter)}"
        files = files if files is not None else {"train/a.txt": b"alpha\n", "test/b.txt": b"beta!\n"}
        for rel, data in files.items():
            p = root / "data" / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        if meta is not None:
            (root / "meta.json").write_text(json.dumps(meta))
        return root

    return make


@pytest.fixture
def file_url(tmp_path: Path) -> str:
    return f"file://{tmp_path / 'remote'}"


@pytest.fixture
def file_etc(tmp_path: Path, file_url: str) -> EtcResource:
    """An EtcResource on a fresh file:// remote with its own home."""
    return EtcResource(url=file_url, home=str(tmp_path / "home"))


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> str:
    return make_bucket(s3_endpoint)


@pytest.fixture
def no_ambient_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No AWS credentials from the environment or ~/.aws: only what the resource passes can work."""
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(scope="session")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DagsterInstance]:
    """One Dagster instance (sqlite event log, run storage, compute logs) shared by the tests:
    creating one takes seconds.  Tests that scan the stored events use `own_instance`."""
    with instance_for_test(temp_dir=str(tmp_path_factory.mktemp("dagster"))) as inst:
        yield inst


@pytest.fixture
def own_instance(tmp_path: Path) -> Iterator[DagsterInstance]:
    """A Dagster instance whose event log, run storage and compute logs live under tmp_path/dagster."""
    (tmp_path / "dagster").mkdir()
    with instance_for_test(temp_dir=str(tmp_path / "dagster")) as inst:
        yield inst
