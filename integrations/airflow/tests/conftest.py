"""A throwaway Airflow installation for the tests: AIRFLOW_HOME, dags folder and a sqlite
metadata DB under one temp folder, set up before anything imports airflow."""

from __future__ import annotations

import atexit
import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(tempfile.mkdtemp(prefix="etc-airflow-tests-"))
AIRFLOW_HOME = ROOT / "airflow"
DAGS_FOLDER = AIRFLOW_HOME / "dags"
WORKDIR = ROOT / "work"
#: Every OpenLineage event of the session (the provider's listener keeps one client per process).
OPENLINEAGE_EVENTS = ROOT / "openlineage.jsonl"
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "airflow_dag.py"
DAGS_FOLDER.mkdir(parents=True)
WORKDIR.mkdir()
atexit.register(shutil.rmtree, ROOT, ignore_errors=True)

os.environ.update(
    {
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AIRFLOW_HOME / 'airflow.db'}",
        "ETC_EXAMPLE_WORKDIR": str(WORKDIR),
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(OPENLINEAGE_EVENTS), "append": True}),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "etc-tests",
        # Plugins must never read ~/.etc.toml: any Config.load() in this process fails loudly.
        "ETC_CONFIG": str(ROOT / "plugins-must-not-read-this.toml"),
    }
)
os.environ.pop("AIRFLOW_CONN_ETC_DEFAULT", None)

PLANTED_PASSWORD = "planted-PW-0f9e8d7c6b5a-DO-NOT-LEAK"


def conn_json(url: str, *, home: Path, login: str | None = "AKIAPLANTEDKEYID0001",
              password: str | None = PLANTED_PASSWORD, **extra: Any) -> str:
    """An `etcetera` connection in Airflow's JSON form (what AIRFLOW_CONN_<ID> holds)."""
    conn: dict[str, Any] = {"conn_type": "etcetera", "extra": {"url": url, "home": str(home), **extra}}
    if login is not None:
        conn["login"] = login
    if password is not None:
        conn["password"] = password
    return json.dumps(conn)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Create the metadata DB once (fresh sqlite file, current schema)."""
    from airflow.utils import db

    db.initdb()
    return AIRFLOW_HOME


def load_dag_file(path: Path) -> ModuleType:
    """Put a DAG file in the dags folder (dag.test() syncs that folder to the DB) and import it."""
    target = DAGS_FOLDER / path.name
    if target.resolve() != path.resolve():
        shutil.copyfile(path, target)
    spec = importlib.util.spec_from_file_location(f"dagfile_{path.stem}", target)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def example_dag(airflow_db: Path) -> Any:
    """The DAG of examples/airflow_dag.py, loaded from the dags folder."""
    return load_dag_file(EXAMPLE).etcetera_example_dag


def airflow_files_text() -> str:
    """Every file Airflow wrote under AIRFLOW_HOME (task logs if any, config, the sqlite DB)."""
    chunks = []
    for path in AIRFLOW_HOME.rglob("*"):
        if path.is_file():
            chunks.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(chunks)


@pytest.fixture
def make_dataset():
    """Write a small dataset folder (train/test partitions, meta.json) at a path; return the path."""

    def make(root: Path, rows: int = 20) -> Path:
        for part, n in (("train", rows), ("test", max(1, rows // 4))):
            folder = root / "data" / part
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "rows.csv").write_text("".join(f"{i},{i * 7}\n" for i in range(n)))
        (root / "meta.json").write_text('{"description": "test"}\n')
        return root

    return make


@pytest.fixture
def file_conn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """AIRFLOW_CONN_ETC_DEFAULT on a file:// remote; returns the remote folder."""
    remote = tmp_path / "remote"
    remote.mkdir()
    monkeypatch.setenv("AIRFLOW_CONN_ETC_DEFAULT", conn_json(f"file://{remote}", home=tmp_path / "home"))
    return remote
