"""OpenLineage events of push and pull through apache-airflow-providers-openlineage (file
transport, in a real dag.test()), and the etc:// Asset URI normalizer the provider declares."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from etcetera_airflow.lineage import convert_asset_to_openlineage, namespace

from conftest import DAGS_FOLDER, OPENLINEAGE_EVENTS, PLANTED_PASSWORD, conn_json, load_dag_file

LINEAGE_DAG = '''
from airflow.sdk import dag
from etcetera_airflow.operators.etc import EtcPullOperator, EtcPushOperator


@dag(dag_id="etcetera_lineage", schedule=None, catchup=False)
def etcetera_lineage():
    push = EtcPushOperator(task_id="push", name="gulls", source={source!r})
    EtcPullOperator(task_id="pull", name=push.output, home={home!r}, return_ref=True)


etcetera_lineage_dag = etcetera_lineage()
'''


@pytest.mark.parametrize(
    ("uri", "normal"),
    [("etc://S3/bucket/ds/birds/", "etc://s3/bucket/ds/birds"), ("etc://file/srv/etc/x.y", "etc://file/srv/etc/x.y"),
     ("etc://gs/b/birds", "etc://gs/b/birds")],
)
def test_hand_written_asset_uris_are_normalized(uri: str, normal: str) -> None:
    from airflow.sdk import Asset

    assert Asset(uri).uri == normal


@pytest.mark.parametrize(
    ("uri", "message"),
    [("etc://ftp/b/x", "etc://file|s3|gs|az/"), ("etc://s3/bucket", "etc://<scheme>/<bucket-or-path>/<dataset>"),
     ("etc://s3/b/bad name", "invalid dataset name"), ("etc://s3/b/x?version=2", "no query")],
)
def test_malformed_asset_uris_are_refused(uri: str, message: str) -> None:
    from airflow.sdk import Asset

    with pytest.raises(ValueError, match=message.replace("|", r"\|").replace("?", r"\?")):
        Asset(uri)


def test_asset_and_openlineage_names_agree() -> None:
    from airflow.sdk import Asset

    from etcetera_airflow.operators.etc import etc_asset

    asset = etc_asset("birds", "s3://bucket/ds")
    dataset = convert_asset_to_openlineage(Asset(asset.uri))
    assert (dataset.namespace, dataset.name) == ("etc://s3/bucket/ds", "birds") == (namespace("s3://bucket/ds"), "birds")


def test_push_and_pull_emit_openlineage_output_and_input(airflow_db: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch, make_dataset,
                                                         capfd) -> None:
    pytest.importorskip("airflow.providers.openlineage")
    from airflow.utils.state import DagRunState

    events_file = OPENLINEAGE_EVENTS  # the session's file transport (conftest)
    remote = tmp_path / "remote"
    remote.mkdir()
    monkeypatch.setenv("AIRFLOW_CONN_ETC_DEFAULT", conn_json(f"file://{remote}", home=tmp_path / "home"))

    src = make_dataset(tmp_path / "src" / "gulls")
    path = DAGS_FOLDER / "etcetera_lineage_dag.py"
    path.write_text(LINEAGE_DAG.format(source=str(src), home=str(tmp_path / "pulled")))
    dr = load_dag_file(path).etcetera_lineage_dag.test()
    assert dr.state == DagRunState.SUCCESS

    assert events_file.exists(), "the OpenLineage listener wrote no event"
    events = [json.loads(line) for line in events_file.read_text().splitlines() if line.strip()]
    complete = {e["job"]["name"].rpartition(".")[2]: e for e in events
                if e["eventType"] == "COMPLETE" and e["job"]["name"].startswith("etcetera_lineage.")}
    assert {"push", "pull"} <= set(complete)
    ns = f"etc://file/{str(remote).strip('/')}"
    (out,) = complete["push"]["outputs"]
    assert (out["namespace"], out["name"]) == (ns, "gulls")
    assert out["facets"]["version"]["datasetVersion"] == "1"
    (inp,) = complete["pull"]["inputs"]
    assert (inp["namespace"], inp["name"], inp["facets"]["version"]["datasetVersion"]) == (ns, "gulls", "1")
    out_text = events_file.read_text()
    captured = capfd.readouterr()
    assert PLANTED_PASSWORD not in out_text + captured.out + captured.err
