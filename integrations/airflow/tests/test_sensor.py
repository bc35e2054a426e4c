"""EtcDatasetSensor: poke mode, and deferral through a real trigger run by the engine."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

import etcetera as etc
from etcetera_airflow.sensors.etc import EtcDatasetSensor
from etcetera_airflow.triggers.etc import EtcDatasetTrigger, found_version

from conftest import DAGS_FOLDER, PLANTED_PASSWORD, load_dag_file

WAIT_DAG = '''
from airflow.sdk import dag
from etcetera_airflow.operators.etc import EtcPullOperator
from etcetera_airflow.sensors.etc import EtcDatasetSensor


@dag(dag_id="etcetera_wait", schedule=None, catchup=False)
def etcetera_wait():
    wait = EtcDatasetSensor(task_id="wait", name="late", version=2, deferrable=True, poke_interval=0.2,
                            timeout=120)
    EtcPullOperator(task_id="pull", name=wait.output, partitions=["train"])


etcetera_wait_dag = etcetera_wait()
'''


@pytest.mark.parametrize(
    ("versions", "wanted", "found"),
    [([], None, None), ([3, 2, 1], None, 3), ([3, 2, 1], 2, 2), ([1], 2, None)],
)
def test_found_version(versions: list[int], wanted: int | None, found: int | None) -> None:
    assert found_version(versions, wanted) == found


def test_trigger_serializes_ids_not_secrets() -> None:
    classpath, kwargs = EtcDatasetTrigger("ds", 3, "etc_other", 7.0).serialize()
    assert classpath == "etcetera_airflow.triggers.etc.EtcDatasetTrigger"
    assert kwargs == {"name": "ds", "version": 3, "etc_conn_id": "etc_other", "poke_interval": 7.0, "tag": None}
    again = EtcDatasetTrigger(**kwargs)
    assert (again.name, again.version, again.etc_conn_id, again.poke_interval) == ("ds", 3, "etc_other", 7.0)
    assert EtcDatasetTrigger("ds", None, "c", 1.0, tag="stable").serialize()[1]["tag"] == "stable"


def test_sensor_accepts_name_at_version() -> None:
    assert EtcDatasetSensor(task_id="a", name="ds@4")._wanted() == ("ds", 4, None)
    assert EtcDatasetSensor(task_id="b", name="ds")._wanted() == ("ds", None, None)
    assert EtcDatasetSensor(task_id="c", name="ds", version="2")._wanted() == ("ds", 2, None)
    assert EtcDatasetSensor(task_id="d", name="ds@stable")._wanted() == ("ds", None, "stable")


def test_sensor_waits_for_a_tag_and_returns_the_version_it_points_at(file_conn: Path, tmp_path: Path, make_dataset) -> None:
    """`name@TAG` waits until the tag exists (a later version does not satisfy it), then gives
    the version the tag points at, through the real hook and remote."""
    import asyncio

    remote = file_conn
    cfg = etc.Config(f"file://{remote}", home=str(tmp_path / "publisher"))
    src = make_dataset(tmp_path / "src" / "tg")
    etc.register(src, config=cfg)
    etc.push("tg", config=cfg)
    (src / "data" / "train" / "more.csv").write_text("1,2\n")
    etc.register(src, "tg", config=cfg, force=True)
    etc.push("tg", config=cfg)
    sensor = EtcDatasetSensor(task_id="t", name="tg@stable")
    assert sensor.poke({}).is_done is False  # two versions, no tag yet
    etc.tag("tg@1", "stable", config=cfg)
    done = sensor.poke({})
    assert done.is_done and done.xcom_value == "tg@1"
    assert EtcDatasetSensor(task_id="l", name="tg@latest").poke({}).xcom_value == "tg@2"

    async def first_event() -> dict:
        async for event in EtcDatasetTrigger("tg", None, "etc_default", 0.1, tag="stable").run():
            return event.payload
        raise AssertionError("no event")

    assert asyncio.run(first_event()) == {"status": "found", "ref": "tg@1"}


@pytest.mark.parametrize("ref", ["ds@", "ds@-1", "ds@1234567890", "ds@.x", "bad name@2"])
def test_sensor_refuses_a_malformed_ref_with_the_core_rule(ref: str) -> None:
    # the core rule, not a parser of its own: an over-long version or a tag that breaks the name rule is an error.
    with pytest.raises(etc.InvalidNameError):
        EtcDatasetSensor(task_id="bad", name=ref)._wanted()


def test_deferred_sensor_resumes_when_the_version_is_pushed(
    airflow_db: Path, file_conn: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_dataset, capfd, caplog
) -> None:
    """Version 2 of "late" is pushed only once the task has deferred: the engine runs the trigger,
    the trigger sees the new version, the task resumes and returns "late@2"; a partial pull of
    exactly that version follows."""
    from airflow.models.trigger import Trigger
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState
    from sqlalchemy import func, select

    remote = file_conn
    cfg = etc.Config(f"file://{remote}", home=str(tmp_path / "publisher"))
    src = make_dataset(tmp_path / "src" / "late")
    etc.register(src, config=cfg)
    etc.push("late", config=cfg)  # version 1 is there; the sensor wants 2

    path = DAGS_FOLDER / "etcetera_wait_dag.py"
    path.write_text(WAIT_DAG)
    wait_dag = load_dag_file(path).etcetera_wait_dag
    deferred = threading.Event()

    def publish_after_deferral() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with create_session() as session:
                if session.scalar(select(func.count()).select_from(Trigger)):
                    deferred.set()
                    break
            time.sleep(0.1)
        (src / "data" / "train" / "more.csv").write_text("1,2\n")
        etc.register(src, "late", config=cfg, force=True)
        etc.push("late", config=cfg)

    publisher = threading.Thread(target=publish_after_deferral, daemon=True)
    publisher.start()
    dr = wait_dag.test()
    publisher.join(timeout=60)

    assert deferred.is_set(), "the sensor never deferred"
    assert dr.state == DagRunState.SUCCESS
    ti = dr.get_task_instance("wait")
    assert ti.state == TaskInstanceState.SUCCESS
    assert ti.xcom_pull(task_ids="wait") == "late@2"
    pulled = Path(ti.xcom_pull(task_ids="pull"))
    assert pulled == tmp_path / "home" / "late"
    assert sorted(p.name for p in (pulled / "data").iterdir()) == ["train"]  # only the asked partition
    assert (pulled / "data" / "train" / "more.csv").read_text() == "1,2\n"  # version 2's content
    assert etc.dataset("late", config=etc.Config(f"file://{remote}", home=str(tmp_path / "home"))).version == 2
    out, err = capfd.readouterr()
    logs = out + err + caplog.text
    assert "running trigger in line" in logs
    assert PLANTED_PASSWORD not in logs
