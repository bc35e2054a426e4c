"""EtcHook does the work (push, pull, versions, dataset, open); operators render their templates in
a real dag.test(); the sensor's deferrable default follows Airflow's config; the trigger reuses one
client and polls again after a transient remote failure."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import etcetera as etc
from etcetera_airflow.hooks.etc import EtcHook
from etcetera_airflow.triggers.etc import EtcDatasetTrigger

from conftest import DAGS_FOLDER, PLANTED_PASSWORD, airflow_files_text, conn_json, load_dag_file

RELIABILITY = Path(__file__).resolve().parents[3] / "tests" / "reliability"


def test_hook_pushes_lists_pulls_opens(file_conn: Path, tmp_path: Path, make_dataset) -> None:
    src = make_dataset(tmp_path / "src" / "birds")
    hook = EtcHook()
    assert hook.versions("birds") == []
    report = hook.push("birds", source=str(src))
    assert (report.ref, report.up_to_date) == ("birds@1", False)
    again = hook.push("birds")  # same content: up to date at the same version
    assert (again.ref, again.up_to_date) == ("birds@1", True)
    (src / "data" / "train" / "more.csv").write_text("9,9\n")
    assert hook.push("birds", source=str(src)).ref == "birds@2"
    assert hook.versions("birds") == [2, 1]

    with hook.open("birds@1", "data/train/rows.csv", "r") as f:
        assert f.read() == (src / "data" / "train" / "rows.csv").read_text()
    with pytest.raises(FileNotFoundError):
        hook.open("birds@1", "data/train/more.csv")  # only in version 2

    scratch = tmp_path / "scratch"
    ds = hook.pull("birds@1", partitions=["test"], home=str(scratch))
    assert (ds.ref, ds.path) == ("birds@1", scratch / "birds")
    assert sorted(p.name for p in (ds.path / "data").iterdir()) == ["test"]
    local = hook.dataset("birds@2")  # the connection's home already holds version 2 (the push)
    assert local.ref == "birds@2" and (local.path / "data" / "train" / "more.csv").exists()



def test_hook_push_from_a_folder_writes_no_second_copy(file_conn: Path, tmp_path: Path) -> None:
    """What EtcPushOperator(source=...) calls publishes the folder where it is: the connection's
    home gains a state, never a copy of the data (at most 10 % of the dataset's size, issue 15)."""
    src = tmp_path / "src" / "bulk"
    (src / "data" / "train").mkdir(parents=True)
    size = 0
    for i in range(32):
        data = os.urandom(64 << 10)
        (src / "data" / "train" / f"{i:02d}.bin").write_bytes(data)
        size += len(data)
    assert EtcHook().push("bulk", source=str(src)).ref == "bulk@1"
    home = tmp_path / "home"
    used = sum(p.lstat().st_blocks * 512 for p in home.rglob("*") if p.is_file())
    assert used <= size // 10, used

TEMPLATED_DAG = '''
from airflow.sdk import dag, task
from etcetera_airflow.hooks.etc import EtcHook
from etcetera_airflow.operators.etc import EtcPullOperator, EtcPushOperator
from etcetera_airflow.sensors.etc import EtcDatasetSensor


@dag(dag_id="etcetera_templated", schedule=None, catchup=False,
     params={"dataset": "fish", "version": 1, "source": "", "conn": "etc_default", "part": "train"})
def etcetera_templated():
    push = EtcPushOperator(task_id="push", name="{{ params.dataset }}", source="{{ params.source }}",
                           etc_conn_id="{{ params.conn }}")
    wait = EtcDatasetSensor(task_id="wait", name="{{ params.dataset }}", version="{{ params.version }}",
                            etc_conn_id="{{ params.conn }}", poke_interval=0.1, timeout=30)
    pull = EtcPullOperator(task_id="pull", name="{{ params.dataset }}", version="{{ params.version }}",
                           partitions=["{{ params.part }}"], etc_conn_id="{{ params.conn }}",
                           home="{{ params.source }}-pulled", return_ref=True)

    @task
    def read(ref: str) -> str:
        """Stream one file of exactly that version, on any worker, without pulling."""
        with EtcHook().open(ref, "data/train/rows.csv", "r") as f:
            return f.readline().strip()

    push >> wait >> pull
    read(pull.output)


etcetera_templated_dag = etcetera_templated()
'''


def test_templates_render_in_every_operator(airflow_db: Path, file_conn: Path, tmp_path: Path, make_dataset,
                                             capfd, caplog) -> None:
    from airflow.utils.state import DagRunState

    src = make_dataset(tmp_path / "src" / "fish-src")
    path = DAGS_FOLDER / "etcetera_templated_dag.py"
    path.write_text(TEMPLATED_DAG)
    dag = load_dag_file(path).etcetera_templated_dag
    dr = dag.test(run_conf={"source": str(src)})
    out, err = capfd.readouterr()
    logs = out + err + caplog.text

    assert dr.state == DagRunState.SUCCESS
    tis = {ti.task_id: ti for ti in dr.get_task_instances()}
    assert tis["push"].xcom_pull(task_ids="push") == "fish@1"  # name and source rendered
    assert tis["wait"].xcom_pull(task_ids="wait") == "fish@1"  # name and version rendered
    assert tis["pull"].xcom_pull(task_ids="pull") == "fish@1"  # return_ref: the ref, not a path
    assert tis["read"].xcom_pull(task_ids="read") == "0,0"
    pulled = Path(f"{src}-pulled") / "fish"  # home rendered
    assert sorted(p.name for p in (pulled / "data").iterdir()) == ["train"]  # partitions rendered
    assert etc.versions("fish", config=etc.Config(f"file://{file_conn}", home=str(tmp_path / "h"))) == [1]
    assert PLANTED_PASSWORD not in logs and PLANTED_PASSWORD not in airflow_files_text()


@pytest.mark.parametrize("setting", ["True", "False"])
def test_sensor_deferrable_default_follows_airflow_config(setting: str) -> None:
    env = {**os.environ, "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": setting}
    code = ("from etcetera_airflow.sensors.etc import EtcDatasetSensor as S;"
            "print(S(task_id='a', name='x').deferrable, S(task_id='b', name='x', deferrable=False).deferrable)")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == [setting, "False"]


def test_trigger_polls_again_after_transient_errors_with_one_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_dataset, capfd, caplog
) -> None:
    """The remote answers 503 to everything for the first polls (each gives up after its short
    budget with TransientError); the trigger keeps polling through one Repository and fires once
    the remote answers and the version is there."""
    pytest.importorskip("etcetera.storage.s3")
    from etcetera import repository
    from etcetera.testing import TEST_KEY_ID, TEST_SECRET, make_bucket, moto_server

    monkeypatch.syspath_prepend(str(RELIABILITY))
    from faultproxy import FaultProxy

    opened: list[str] = []
    real_open = repository.open_remote

    def counting_open(config: etc.Config):
        opened.append(str(config.endpoint_url))
        return real_open(config)

    monkeypatch.setattr(repository, "open_remote", counting_open)

    with moto_server() as endpoint, FaultProxy(endpoint, kinds=("503",), persistent=True) as proxy:
        bucket = make_bucket(endpoint)
        url = f"s3://{bucket}/datasets"
        extra = {"region_name": "us-east-1", "give_up_seconds": 0.3}
        monkeypatch.setenv("AIRFLOW_CONN_ETC_FLAKY", conn_json(
            url, home=tmp_path / "home", login=TEST_KEY_ID, password=TEST_SECRET,
            endpoint_url=proxy.url, **extra))
        publisher = etc.Config(url, home=str(tmp_path / "pub"), endpoint_url=endpoint, aws_access_key_id=TEST_KEY_ID,
                               aws_secret_access_key=TEST_SECRET, region_name="us-east-1")
        etc.register(make_dataset(tmp_path / "src" / "flaky"), config=publisher)
        etc.push("flaky", config=publisher)

        async def wait() -> dict:
            trigger = EtcDatasetTrigger("flaky", 1, "etc_flaky", poke_interval=0.05)
            events = trigger.run()

            async def heal() -> None:
                while proxy.total_faults < 6:  # several polls failed (each retries within its budget)
                    await asyncio.sleep(0.05)
                proxy.persistent = False

            healer = asyncio.create_task(heal())
            try:
                event = await asyncio.wait_for(events.__anext__(), timeout=60)
            finally:
                healer.cancel()
                await events.aclose()
            return event.payload

        payload = asyncio.run(wait())

    assert payload == {"status": "found", "ref": "flaky@1"}
    assert proxy.total_faults >= 6
    out, err = capfd.readouterr()
    logs = out + err + caplog.text
    assert "polling again" in logs
    assert opened.count(proxy.url) == 1  # one client for every poll (the publisher's is not through the proxy)
    assert TEST_SECRET not in logs


def test_trigger_reports_a_lasting_error_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A non-transient error (here: no url in the connection) ends the wait with its message."""
    monkeypatch.setenv("AIRFLOW_CONN_ETC_BROKEN", json.dumps(
        {"conn_type": "etcetera", "password": PLANTED_PASSWORD, "extra": {"home": str(tmp_path)}}))

    async def first() -> dict:
        events = EtcDatasetTrigger("x", None, "etc_broken", 0.05).run()
        event = await asyncio.wait_for(events.__anext__(), timeout=30)
        await events.aclose()
        return event.payload

    payload = asyncio.run(first())
    assert payload["status"] == "error" and "has no remote" in payload["message"]
    assert PLANTED_PASSWORD not in payload["message"]
