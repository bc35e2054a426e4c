"""examples/airflow_dag.py run by the real Airflow engine (dag.test()), once per backend (file://, a
moto S3 server, fake-gcs-server, Azurite), with the connection given only as the
AIRFLOW_CONN_ETC_DEFAULT environment secret."""

from __future__ import annotations

import hashlib
import json
import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import etcetera as etc
from etcetera.testing import TEST_KEY_ID, TEST_SECRET, make_bucket, moto_server

from conftest import DAGS_FOLDER, PLANTED_PASSWORD, WORKDIR, airflow_files_text, conn_json

DATASET = "airflow-sample"

# A downstream DAG scheduled on the dataset's Asset: the push must queue a run of it.
CONSUMER = """
from airflow.sdk import dag
from etcetera_airflow.operators.etc import EtcPullOperator, etc_asset


@dag(dag_id={dag_id!r}, schedule=[etc_asset({dataset!r}, {url!r})], catchup=False)
def consumer():
    EtcPullOperator(task_id="pull", name={dataset!r})


consumer()
"""


@dataclass
class Backend:
    url: str
    login: str | None
    password: str | None
    extra: dict[str, Any]
    asset_prefix: str
    secrets: list[str] = field(default_factory=list)  # what must appear nowhere: the password, or key lines
    token: Any = None  # GCS: the loopback token service, which counts the grants it gave

    def config(self, home: Path) -> etc.Config:
        """An independent Config on the same remote, for checking what the DAG did."""
        return etc.Config(self.url, home=str(home), aws_access_key_id=self.login,
                          aws_secret_access_key=self.password, **self.extra)


def _s3_available() -> bool:
    return importlib.util.find_spec("etcetera.storage.s3") is not None


def _azure_sas(container: str) -> str:
    from datetime import datetime, timedelta, timezone

    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    from etcetera.testing import AZURITE_ACCOUNT, AZURITE_KEY

    return generate_container_sas(AZURITE_ACCOUNT, container, account_key=AZURITE_KEY,
                                  permission=ContainerSasPermissions(read=True, write=True, list=True, delete=True,
                                                                     create=True, add=True),
                                  expiry=datetime.now(timezone.utc) + timedelta(hours=1))


@pytest.fixture(params=["file", "s3", "gs", "az"])
def backend(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    if request.param == "az":
        # A SAS token in the connection's extra (it travels in every request's query string):
        # Azurite checks it, so the task really signs with it.
        pytest.importorskip("azure.storage.blob")
        from urllib.parse import quote, unquote

        from etcetera.testing import azurite, make_container

        for var in ("AZURE_STORAGE_CONNECTION_STRING", "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET"):
            monkeypatch.delenv(var, raising=False)
        with azurite() as endpoint:
            container = make_container(endpoint)
            sas = _azure_sas(container)
            sig = unquote(next(p[4:] for p in sas.split("&") if p.startswith("sig=")))
            yield Backend(f"az://{container}/datasets", None, None,
                          {"azure_account_url": endpoint, "azure_sas_token": sas},
                          f"etc://az/{container}/datasets", [sas, sig, quote(sig, safe="")])
        return
    if request.param == "file":
        remote = tmp_path / "remote"
        remote.mkdir()
        yield Backend(f"file://{remote}", "AKIAPLANTEDKEYID0001", PLANTED_PASSWORD, {}, f"etc://file{remote}",
                      [PLANTED_PASSWORD])
        return
    if request.param == "gs":
        # A service account with a real key in the connection's extra; the loopback token
        # endpoint grants a token, so the task really signs with that key.
        pytest.importorskip("google.cloud.storage")
        pytest.importorskip("cryptography")
        from etcetera.testing import (gcs_emulator, gcs_token_service, make_gcs_bucket, private_key_lines,
                                      service_account_info)

        monkeypatch.setenv("NO_GCE_CHECK", "true")
        monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
        with gcs_token_service() as token, gcs_emulator() as emulator:
            monkeypatch.setenv("STORAGE_EMULATOR_HOST", emulator)
            sa = service_account_info(token.url)
            bucket = make_gcs_bucket(emulator)
            yield Backend(f"gs://{bucket}/datasets", None, None,
                          {"google_application_credentials": json.dumps(sa), "project": "etc-test"},
                          f"etc://gs/{bucket}/datasets", private_key_lines(sa), token)
        return
    if not _s3_available():
        pytest.skip("etcetera has no S3 backend yet")
    with moto_server() as endpoint:
        bucket = make_bucket(endpoint)
        yield Backend(f"s3://{bucket}/datasets", TEST_KEY_ID, TEST_SECRET,
                      {"endpoint_url": endpoint, "region_name": "us-east-1"}, f"etc://s3/{bucket}/datasets",
                      [TEST_SECRET])


def digest(root: Path) -> dict[str, str]:
    """sha256 of every file under a dataset folder except etcetera's own bookkeeping."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and (p.relative_to(root).parts[0] in ("data", "meta.json"))
    }


def test_example_dag_pushes_waits_pulls_and_checks(example_dag, backend: Backend, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch, capfd, caplog,
                                                   request: pytest.FixtureRequest) -> None:
    from airflow.models.asset import AssetDagRunQueue, AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState
    from sqlalchemy import select

    worker_home = tmp_path / "worker-home"
    monkeypatch.setenv("AIRFLOW_CONN_ETC_DEFAULT", conn_json(
        backend.url, home=worker_home, login=backend.login, password=backend.password, **backend.extra))

    consumer_id = f"etcetera_consumer_{request.node.callspec.id}"
    (DAGS_FOLDER / f"{consumer_id}.py").write_text(
        CONSUMER.format(dag_id=consumer_id, dataset=DATASET, url=backend.url))

    dr = example_dag.test()

    # Task logs (structlog, written to the process's stdout/stderr) plus every stdlib log record.
    out, err = capfd.readouterr()
    logs = out + err + caplog.text
    # The capture really holds the task logs, so the leak check below is meaningful.
    assert f"pushed {DATASET}@1 to {backend.url}" in logs  # the operator's own task log line
    assert "[DAG TEST] end task task_id=check" in logs

    assert dr.state == DagRunState.SUCCESS
    tis = {ti.task_id: ti for ti in dr.get_task_instances()}
    assert set(tis) == {"build", "push", "wait", "pull", "check", "clean_up"}
    assert {ti.state for ti in tis.values()} == {TaskInstanceState.SUCCESS}

    def xcom(task_id: str) -> Any:
        return tis[task_id].xcom_pull(task_ids=task_id)

    built = Path(xcom("build"))
    pulled = Path(xcom("pull"))
    assert xcom("push") == f"{DATASET}@1"
    assert xcom("wait") == f"{DATASET}@1"
    assert pulled.name == DATASET and pulled.is_relative_to(WORKDIR / "etc-airflow-example" / "pulled")
    assert xcom("check") == {"files": 2}

    # What is on the remote, seen through a Config of our own.
    check_cfg = backend.config(tmp_path / "checker-home")
    assert etc.ls(remote=True, config=check_cfg) == [DATASET]
    assert etc.versions(DATASET, config=check_cfg) == [1]
    info = etc.info(f"{DATASET}@1", remote=True, config=check_cfg)
    assert set(info["partitions"]) == {"train", "test"} and info["files"] == 3  # 2 partitions + meta.json
    assert info["partitions"]["train"]["files"] == 1

    # `check` compared the pulled tree with the built one; clean_up then removed both scratch folders.
    assert not built.exists() and not pulled.exists()
    assert not (WORKDIR / "etc-airflow-example").exists()
    # A fresh pull by someone else holds what the DAG built.
    fresh = etc.pull(f"{DATASET}@1", config=check_cfg).path
    assert set(digest(fresh)) == {"data/train/rows.csv", "data/test/rows.csv", "meta.json"}
    assert (fresh / "data" / "train" / "rows.csv").read_text() == "".join(f"{i},{i * i}\n" for i in range(40))
    # The push kept its state in the connection's home, never ~/.etc, and no copy of the data (issue 15).
    assert (worker_home / ".etc" / "sources" / "state" / f"{DATASET}.json").is_file()
    assert not (worker_home / DATASET).exists()

    # The outlet Asset got an event carrying the ref.
    uri = f"{backend.asset_prefix}/{DATASET}"
    with create_session() as session:
        events = session.scalars(
            select(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.uri == uri, AssetEvent.source_run_id == dr.run_id)
        ).all()
        queued = session.scalars(
            select(AssetModel.uri).join(AssetDagRunQueue, AssetDagRunQueue.asset_id == AssetModel.id)
            .where(AssetDagRunQueue.target_dag_id == consumer_id)
        ).all()
    assert [e.extra for e in events] == [{"ref": f"{DATASET}@1", "version": 1}]
    assert queued == [uri]  # data-aware scheduling: the consumer DAG is due

    # The connection's secrets appear nowhere Airflow wrote logs or state.
    assert backend.secrets
    stored = airflow_files_text()
    assert not [n for n in backend.secrets if n in logs or n in stored]
    if backend.token is not None:
        assert backend.token.grants >= 1  # the service account really signed a token request


BROKEN_DAG = '''
from airflow.sdk import dag
from etcetera_airflow.operators.etc import EtcPushOperator


@dag(dag_id="etcetera_broken", schedule=None, catchup=False)
def etcetera_broken():
    EtcPushOperator(task_id="push", name="ghost")


etcetera_broken_dag = etcetera_broken()
'''


def test_a_broken_connection_fails_the_task_with_a_clear_message_and_no_secret(
    airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd, caplog
) -> None:
    from airflow.utils.state import DagRunState, TaskInstanceState

    from conftest import load_dag_file

    # No url in the extra; the password and a session token are planted.
    monkeypatch.setenv("AIRFLOW_CONN_ETC_DEFAULT", json.dumps({
        "conn_type": "etcetera", "login": "AKIAPLANTEDKEYID0001", "password": PLANTED_PASSWORD,
        "extra": {"home": str(tmp_path / "home"), "aws_session_token": "planted-token-5a4b3c2d1e"},
    }))
    path = DAGS_FOLDER / "etcetera_broken_dag.py"
    path.write_text(BROKEN_DAG)
    dr = load_dag_file(path).etcetera_broken_dag.test()

    out, err = capfd.readouterr()
    logs = out + err + caplog.text
    assert dr.state == DagRunState.FAILED
    assert dr.get_task_instance("push").state == TaskInstanceState.FAILED
    assert "connection 'etc_default' has no remote" in logs
    assert PLANTED_PASSWORD not in logs and "planted-token-5a4b3c2d1e" not in logs
    assert PLANTED_PASSWORD not in airflow_files_text()
