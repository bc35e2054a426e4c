"""The example flow on a real (temporary) Prefect server, against file://, a moto S3 server and Azurite.

One server for the whole session; each test saves its block, loads it by name inside the flow,
runs the flow, then reads the artifacts and the run logs back through the Prefect API.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.logging.handlers import APILogHandler

import etcetera as etc
from etcetera.testing import AZURITE_KEY, TEST_KEY_ID, TEST_SECRET, azurite, make_bucket, make_container, moto_server
from prefect_etcetera import EtcRepository, pull_dataset, push_dataset

pytestmark = pytest.mark.usefixtures("prefect_server")

HAVE_S3 = importlib.util.find_spec("etcetera.storage.s3") is not None and importlib.util.find_spec("moto")
SECRETS = (TEST_SECRET, AZURITE_KEY)  # the planted AWS secret, and the Azure account key of the az:// block


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    if not HAVE_S3:
        pytest.skip("etcetera's S3 backend or moto is not installed")
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def az_endpoint() -> Iterator[str]:
    """Azurite (installed from npm on first use), its development account's URL."""
    with azurite() as account_url:
        yield account_url


@pytest.fixture(params=["file", "s3", "az"])
def block(request: pytest.FixtureRequest, tmp_path: Path) -> EtcRepository:
    """An unsaved block on a fresh remote; the planted secret is TEST_SECRET in every case (the az://
    block also holds the Azure account key, which it uses)."""
    if request.param == "az":
        endpoint = request.getfixturevalue("az_endpoint")
        return EtcRepository(url=f"az://{make_container(endpoint)}/datasets", home=str(tmp_path / "home"),
                             azure_account_url=endpoint, azure_account_key=AZURITE_KEY,
                             aws_access_key_id=TEST_KEY_ID, aws_secret_access_key=TEST_SECRET)
    if request.param == "file":
        return EtcRepository(url=f"file://{tmp_path / 'remote'}", home=str(tmp_path / "home"),
                             aws_access_key_id=TEST_KEY_ID, aws_secret_access_key=TEST_SECRET)
    endpoint = request.getfixturevalue("s3_endpoint")
    return EtcRepository(url=f"s3://{make_bucket(endpoint)}/datasets", home=str(tmp_path / "home"),
                         endpoint_url=endpoint, region_name="us-east-1",
                         aws_access_key_id=TEST_KEY_ID, aws_secret_access_key=TEST_SECRET)


def _save(block: EtcRepository) -> str:
    name = f"repo-{uuid.uuid4().hex[:8]}"
    block.save(name)
    return name


def _run_logs(flow_run_id: uuid.UUID) -> list[str]:
    APILogHandler().flush()  # the API handler sends logs in the background
    with get_client(sync_client=True) as client:
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
    return [log.message for log in logs]


def _artifacts(flow_run_id: uuid.UUID) -> list[Any]:
    with get_client(sync_client=True) as client:
        return client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )


def _assert_no_secret(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture, api_logs: list[str]) -> None:
    assert caplog.records, "caplog captured nothing: the secret check would prove nothing"
    # Plain booleans, so that a failure does not print the secret itself.
    formatter = logging.Formatter()
    leaked_by = [r.name for r in caplog.records if any(s in formatter.format(r) for s in SECRETS)]
    assert not leaked_by, f"secret in log records from {leaked_by}"
    assert api_logs
    leaked_to_api = sum(any(s in message for s in SECRETS) for message in api_logs)
    assert not leaked_to_api, f"secret in {leaked_to_api} run log(s) stored by the Prefect API"
    out, err = capfd.readouterr()
    leaked_to_console = any(s in out or s in err for s in SECRETS)
    assert not leaked_to_console, "secret printed on stdout/stderr"


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    for name in (None, "prefect", "etcetera", "botocore", "boto3", "urllib3", "azure"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def test_block_saved_and_loaded_by_name_keeps_secret_hidden(block: EtcRepository) -> None:
    name = _save(block)
    loaded = EtcRepository.load(name)
    assert loaded.get_config().to_dict(secrets=True) == block.get_config().to_dict(secrets=True)
    assert loaded.aws_secret_access_key.get_secret_value() == TEST_SECRET
    for text in (repr(block), str(block), repr(loaded), str(loaded)):
        assert not any(s in text for s in SECRETS)
        assert "SecretStr('**********')" in text
    # What the API hands to anyone reading the block without asking for secrets (the UI).
    with get_client(sync_client=True) as client:
        document = client.read_block_document_by_name(name, "etcetera-repository", include_secrets=False)
    assert document.data["aws_secret_access_key"] != TEST_SECRET
    assert not any(s in repr(document.data) for s in SECRETS)
    if block.azure_account_key is not None:
        assert document.data["azure_account_key"] != AZURITE_KEY
        assert loaded.azure_account_key.get_secret_value() == AZURITE_KEY
    assert document.data["aws_access_key_id"] != TEST_KEY_ID  # a secret key of etcetera.Config
    assert loaded.aws_access_key_id.get_secret_value() == TEST_KEY_ID
    assert document.data["url"] == block.url


def test_give_up_seconds_reaches_the_config_from_a_saved_block(tmp_path: Path) -> None:
    name = _save(EtcRepository(url=f"file://{tmp_path / 'remote'}", give_up_seconds=2.5))
    with get_client(sync_client=True) as client:
        document = client.read_block_document_by_name(name, "etcetera-repository", include_secrets=False)
    assert document.data["give_up_seconds"] == 2.5
    assert EtcRepository.load(name).get_config().give_up == 2.5


def test_example_flow_round_trip(block: EtcRepository, example: ModuleType, tmp_path: Path,
                                 _isolated_home: Path, debug_logs: pytest.LogCaptureFixture,
                                 capfd: pytest.CaptureFixture) -> None:
    # A decoy ~/.etc.toml: if anything read it, a 'decoy' folder would appear.
    decoy = tmp_path / "decoy"
    (_isolated_home / ".etc.toml").write_text(f'url = "file://{decoy}"\nhome = "{decoy}/home"\n')
    block_name = _save(block)
    workdir = tmp_path / "work"

    state = example.etcetera_roundtrip(block_name, str(workdir), dataset="squares", return_state=True)

    assert state.is_completed(), state.message
    result = state.result()
    pulled = workdir / "fresh-home" / "squares"
    assert result == {"ref": "squares@1", "path": str(pulled), "files": len(example.SAMPLE_FILES)}
    for rel, text in example.SAMPLE_FILES.items():
        assert (pulled / rel).read_text() == text
    config = block.get_config()
    assert etc.versions("squares", config=config) == [1]
    assert etc.info("squares@1", remote=True, config=config)["partitions"] == {
        "test": {"files": 1, "bytes": len(example.SAMPLE_FILES["data/test/points.csv"])},
        "train": {"files": 2, "bytes": len(example.SAMPLE_FILES["data/train/points.csv"])
                  + len(example.SAMPLE_FILES["data/train/labels.txt"])},
    }
    assert not decoy.exists()

    flow_run_id = state.state_details.flow_run_id
    artifacts = _artifacts(flow_run_id)
    assert sorted((a.key, a.type) for a in artifacts) == [("etcetera-squares", "markdown")] * 2
    pushed, pulled_md = sorted((a.data for a in artifacts), key=lambda d: "| Action | pull |" in d)
    total = sum(len(t) for t in example.SAMPLE_FILES.values())
    for page in (pushed, pulled_md):
        assert page.startswith("# squares@1\n")
        assert f"| Files | {len(example.SAMPLE_FILES)} |" in page
        assert f"({total} bytes)" in page
        assert "| train | 2 |" in page and "| test | 1 |" in page
        assert f"`{config.url}`" in page
        assert not any(s in page for s in SECRETS)
    assert "| Action | push |" in pushed
    assert f"| Local path | `{pulled}` |" in pulled_md

    api_logs = _run_logs(flow_run_id)
    assert any(m.startswith(f"Pushing squares to {config.url}") for m in api_logs)
    assert any(m.startswith("Pulled squares@1 to ") and "partitions: test (1 file), train (2 files)" in m
               for m in api_logs)
    _assert_no_secret(debug_logs, capfd, api_logs)


@flow
def pull_missing(block_name: str, dataset: str) -> str:
    return pull_dataset(dataset, EtcRepository.load(block_name))


def test_failed_pull_fails_the_flow_without_leaking(block: EtcRepository, debug_logs: pytest.LogCaptureFixture,
                                                     capfd: pytest.CaptureFixture) -> None:
    state = pull_missing(_save(block), "no-such-dataset", return_state=True)
    assert state.is_failed()
    with pytest.raises(etc.EtcError, match="no-such-dataset"):
        state.result()
    api_logs = _run_logs(state.state_details.flow_run_id)
    assert any("no-such-dataset" in m for m in api_logs)
    _assert_no_secret(debug_logs, capfd, api_logs)


def test_block_register_cli() -> None:
    """`prefect block register -m prefect_etcetera` registers the block type on the server."""
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    prefect_cli = Path(sys.executable).with_name("prefect")
    done = subprocess.run([str(prefect_cli), "block", "register", "-m", "prefect_etcetera"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Etcetera Repository" in done.stdout
    with get_client(sync_client=True) as client:
        block_type = client.read_block_type_by_slug("etcetera-repository")
    assert block_type.name == "Etcetera Repository"
    assert block_type.description == EtcRepository.get_description()


@flow
def publish_then_read(block_name: str, source: str, reader_home: str) -> dict:
    """Push two versions, then read back one partition of the first and all of the second."""
    repository = EtcRepository.load(block_name)
    first = push_dataset("birds", repository, source=source)
    unchanged = push_dataset("birds", repository)
    (Path(source) / "data" / "train" / "new.txt").write_text("added in v2\n")
    second = push_dataset("birds", repository, source=source)
    reader = repository.model_copy(update={"home": reader_home})
    old_train = pull_dataset(first, reader, partitions=["train"])
    old_files = sorted(p.relative_to(old_train).as_posix() for p in Path(old_train).rglob("*") if p.is_file())
    latest = pull_dataset("birds", reader)
    new_files = sorted(p.relative_to(latest).as_posix() for p in Path(latest).rglob("*") if p.is_file())
    return {"refs": [first, unchanged, second], "old": old_files, "new": new_files}


def _birds(root: Path) -> Path:
    for rel, text in {"data/train/a.txt": "a\n", "data/test/b.txt": "bb\n"}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_versions_and_partial_pull(block: EtcRepository, tmp_path: Path) -> None:
    source = _birds(tmp_path / "src" / "birds")
    state = publish_then_read(_save(block), str(source), str(tmp_path / "reader"), return_state=True)
    assert state.is_completed(), state.message
    assert state.result() == {
        "refs": ["birds@1", "birds@1", "birds@2"],
        "old": ["data/train/a.txt"],
        "new": ["data/test/b.txt", "data/train/a.txt", "data/train/new.txt"],
    }
    pages = [a.data for a in _artifacts(state.state_details.flow_run_id)]
    partial = [p for p in pages if p.startswith("# birds@1\n") and "| Action | pull |" in p]
    assert len(partial) == 1
    assert "| train | 1 |" in partial[0] and "| test |" not in partial[0]
    assert sum(p.startswith("# birds@2\n") for p in pages) == 2  # the second push and the last pull


@flow
def push_with_local_config(source: str) -> str:
    return push_dataset("local-birds", None, source=source, use_local_config=True)


@flow
def push_without_block(source: str) -> str:
    return push_dataset("local-birds", None, source=source)


def test_local_config_only_when_asked(tmp_path: Path, _isolated_home: Path) -> None:
    remote = tmp_path / "remote-from-toml"
    (_isolated_home / ".etc.toml").write_text(f'url = "file://{remote}"\nhome = "{tmp_path}/home"\n')
    source = _birds(tmp_path / "src" / "local-birds")

    refused = push_without_block(str(source), return_state=True)
    assert refused.is_failed()
    with pytest.raises(ValueError, match="use_local_config=True"):
        refused.result()
    assert not remote.exists()

    assert push_with_local_config(str(source)) == "local-birds@1"
    assert etc.versions("local-birds", config=etc.Config(f"file://{remote}")) == [1]


@pytest.fixture
def gcs_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[EtcRepository, Any, dict]]:
    """A block on the GCS emulator holding a service account with a real key; its token endpoint
    (on loopback) grants tokens, so the client really signs with that key."""
    pytest.importorskip("google.cloud.storage")
    pytest.importorskip("cryptography")
    from etcetera.testing import gcs_emulator, gcs_token_service, make_gcs_bucket, service_account_info

    monkeypatch.setenv("NO_GCE_CHECK", "true")
    with gcs_token_service() as token, gcs_emulator() as emulator:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", emulator)
        sa = service_account_info(token.url)
        block = EtcRepository(url=f"gs://{make_gcs_bucket(emulator)}/datasets", home=str(tmp_path / "home"),
                              project="etc-test", google_application_credentials=json.dumps(sa))
        yield block, token, sa


def test_example_flow_on_gcs_with_a_service_account_block(gcs_block, example: ModuleType, tmp_path: Path,
                                                          debug_logs: pytest.LogCaptureFixture,
                                                          capfd: pytest.CaptureFixture) -> None:
    from etcetera.testing import private_key_lines

    block, token, sa = gcs_block
    block_name = _save(block)
    assert json.loads(EtcRepository.load(block_name).google_application_credentials.get_secret_value()) == sa
    state = example.etcetera_roundtrip(block_name, str(tmp_path / "work"), dataset="squares", return_state=True)

    assert state.is_completed(), state.message
    assert state.result()["ref"] == "squares@1"
    assert token.grants >= 1  # the saved key really signed a token request
    assert etc.versions("squares", config=block.get_config()) == [1]
    api_logs = _run_logs(state.state_details.flow_run_id)
    assert any(m.startswith("Pushing squares to gs://") for m in api_logs)
    out, err = capfd.readouterr()
    formatter = logging.Formatter()
    seen = [*api_logs, out, err, *(formatter.format(r) for r in debug_logs.records), repr(block)]
    leaked = sum(n in text for n in private_key_lines(sa) for text in seen)
    assert not leaked, f"the service-account key appears {leaked} time(s) in logs or output"


@flow
def publish_folder(block_name: str, source: str) -> str:
    return push_dataset("bulk", EtcRepository.load(block_name), source=source)


def test_push_from_a_folder_writes_no_second_copy(block: EtcRepository, tmp_path: Path) -> None:
    """push_dataset(source=...) publishes the folder where it is: the block's home gains a state,
    never a copy of the data (at most 10 % of the dataset's size, issue 15)."""
    source = tmp_path / "src" / "bulk"
    (source / "data" / "train").mkdir(parents=True)
    size = 0
    for i in range(32):
        data = os.urandom(64 << 10)
        (source / "data" / "train" / f"{i:02d}.bin").write_bytes(data)
        size += len(data)
    state = publish_folder(_save(block), str(source), return_state=True)
    assert state.is_completed(), state.message
    assert state.result() == "bulk@1"
    home = Path(block.home)
    used = sum(p.lstat().st_blocks * 512 for p in home.rglob("*") if p.is_file())
    assert used <= size // 10, used
