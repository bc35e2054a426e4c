"""The README's "reading one file inside a task without pulling", run in a real Prefect flow: a
task reads a pushed version through etcetera.open and an etc:// path, and nothing lands in the home."""

from __future__ import annotations

import uuid
from pathlib import Path

import pandas as pd
import pytest
from prefect import flow, task

import etcetera
from prefect_etcetera import EtcRepository, push_dataset

pytestmark = pytest.mark.usefixtures("prefect_server")

ROWS = "x,label\n1,a\n2,b\n3,c\n"


def test_a_task_reads_a_version_with_etc_paths_without_pulling(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "data" / "train").mkdir(parents=True)
    (src / "data" / "train" / "rows.csv").write_text(ROWS)
    url = f"file://{tmp_path / 'remote'}"
    block_name = f"repo-{uuid.uuid4().hex[:8]}"
    EtcRepository(url=url, home=str(tmp_path / "writer-home")).save(block_name)
    reader_home = tmp_path / "reader-home"
    reader = f"{block_name}-reader"
    EtcRepository(url=url, home=str(reader_home)).save(reader)

    @task
    def head(ref: str, repository: EtcRepository) -> tuple[str, int]:
        with etcetera.open(ref, "data/train/rows.csv", "r", config=repository.get_config()) as f:
            first = f.readline()
        df = pd.read_csv(f"etc://{ref}/data/train/rows.csv", storage_options={"config": repository.get_config()})
        return first, len(df)

    @flow
    def read_without_pulling() -> tuple[str, int]:
        ref = push_dataset("rows", repository=EtcRepository.load(block_name), source=str(src))
        return head(ref, EtcRepository.load(reader))

    assert read_without_pulling() == ("x,label\n", 3)
    assert not reader_home.exists() or not any(p.is_file() for p in reader_home.rglob("*"))
