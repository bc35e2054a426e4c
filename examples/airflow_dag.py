"""Example Airflow 3 DAG: build a dataset, publish it with etcetera, wait for it, pull it, check it.

The remote and its credentials come only from the Airflow connection `etc_default`, e.g.
as an environment secret (JSON form):

    export AIRFLOW_CONN_ETC_DEFAULT='{"conn_type": "etcetera", "login": "AKIA...",
        "password": "...", "extra": {"url": "s3://my-bucket", "region_name": "us-east-1"}}'

Scratch folders go under $ETC_EXAMPLE_WORKDIR (default: the system temp folder); the last task
removes the run's own, whatever happened before.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from airflow.sdk import dag, task

from etcetera_airflow.operators.etc import EtcPullOperator, EtcPushOperator
from etcetera_airflow.sensors.etc import EtcDatasetSensor

DATASET = "airflow-sample"
WORKDIR = Path(os.environ.get("ETC_EXAMPLE_WORKDIR") or tempfile.gettempdir()) / "etc-airflow-example"


def run_folder(run_id: str | None) -> str:
    """A folder name for `run_id` (run ids hold ':' and '+')."""
    return str(run_id).replace(":", "_").replace("+", "_")


def tree_digest(root: str | Path) -> dict[str, str]:
    """sha256 of every file under `root`'s data/ folder, by relative path."""
    data = Path(root) / "data"
    return {
        p.relative_to(data).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(data.rglob("*"))
        if p.is_file()
    }


@dag(dag_id="etcetera_example", schedule=None, catchup=False, tags=["etcetera"])
def etcetera_example() -> None:
    @task
    def build(run_id: str | None = None) -> str:
        """Write a small dataset (train/test partitions) and return its folder."""
        root = WORKDIR / "build" / run_folder(run_id) / DATASET
        for part, rows in (("train", 40), ("test", 10)):
            folder = root / "data" / part
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "rows.csv").write_text("".join(f"{i},{i * i}\n" for i in range(rows)))
        (root / "meta.json").write_text('{"description": "squares"}\n')
        return str(root)

    built = build()
    push = EtcPushOperator(task_id="push", name=DATASET, source=built)
    wait = EtcDatasetSensor(task_id="wait", name=push.output, deferrable=True, poke_interval=5, timeout=600)
    pull = EtcPullOperator(
        task_id="pull",
        name=push.output,  # exactly the version just published: "airflow-sample@<n>"
        home=str(WORKDIR / "pulled" / "{{ run_id | replace(':', '_') | replace('+', '_') }}"),
    )

    @task
    def check(built_path: str, pulled_path: str) -> dict[str, int]:
        """The pulled tree equals the built one, file by file."""
        want, got = tree_digest(built_path), tree_digest(pulled_path)
        if want != got:
            raise ValueError(f"pulled tree differs: {sorted(set(want) ^ set(got)) or 'contents'}")
        return {"files": len(got)}

    @task(trigger_rule="all_done")
    def clean_up(run_id: str | None = None) -> None:
        """Remove this run's scratch folders (the published dataset stays on the remote)."""
        for kind in ("build", "pulled"):
            shutil.rmtree(WORKDIR / kind / run_folder(run_id), ignore_errors=True)
            for empty in (WORKDIR / kind, WORKDIR):
                try:
                    empty.rmdir()
                except OSError:  # not empty: another run's folders are still there
                    pass

    wait >> pull
    check(built, pull.output) >> clean_up()


etcetera_example_dag = etcetera_example()

if __name__ == "__main__":
    etcetera_example_dag.test()
