"""A push materializes the dataset's etc:// asset, a pull makes it the upstream of the asset a
later task materializes: read back as the events the real Prefect server stored."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from prefect import flow
from prefect.assets import materialize
from prefect.client.orchestration import get_client
from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter
from prefect.events.worker import EventsWorker

from prefect_etcetera import EtcRepository, pull_dataset, push_dataset
from prefect_etcetera.assets import dataset_uri

pytestmark = pytest.mark.usefixtures("prefect_server")


def _asset_events(since, want: int, timeout: float = 30.0) -> list:
    """The prefect.asset.* events since `since`, once at least `want` have been stored."""
    EventsWorker.drain_all()
    deadline = time.monotonic() + timeout
    while True:
        with get_client(sync_client=True) as client:
            page = client.read_events(EventFilter(event=EventNameFilter(prefix=["prefect.asset."]),
                                                  occurred=EventOccurredFilter(since=since)), limit=50)
        if len(page.events) >= want or time.monotonic() > deadline:
            return page.events
        time.sleep(0.5)


def test_push_materializes_and_pull_is_upstream(tmp_path: Path) -> None:
    from prefect.types import DateTime

    since = DateTime.now("UTC")
    src = tmp_path / "src"
    (src / "data" / "train").mkdir(parents=True)
    (src / "data" / "train" / "a.csv").write_text("1,2\n")
    block_name = f"repo-{uuid.uuid4().hex[:8]}"
    url = f"file://{tmp_path / 'remote'}"
    EtcRepository(url=url, home=str(tmp_path / "home")).save(block_name)
    report_key = f"file://{tmp_path}/report-{uuid.uuid4().hex[:6]}"
    name = f"herons-{uuid.uuid4().hex[:6]}"

    @materialize(report_key)
    def report(path: str) -> int:
        return len(list(Path(path, "data", "train").iterdir()))

    @flow
    def lineage() -> int:
        repository = EtcRepository.load(block_name)
        ref = push_dataset(name, repository=repository, source=str(src))
        path = pull_dataset(ref, repository=repository)
        return report(path)

    assert lineage() == 1
    uri = dataset_uri(url, name)
    assert uri == f"etc://file/{str(tmp_path / 'remote').strip('/')}/{name}"
    events = _asset_events(since, want=3)
    by = {(e.event, e.resource.id): e for e in events}
    pushed = by[("prefect.asset.materialization.succeeded", uri)]
    assert pushed.payload["ref"] == f"{name}@1" and pushed.payload["files"] == 1
    assert pushed.resource.get("prefect.resource.name") == name
    assert ("prefect.asset.referenced", uri) in by  # the report read the pulled dataset
    downstream = by[("prefect.asset.materialization.succeeded", report_key)]
    assert [r.id for r in downstream.related if r.role == "asset"] == [uri]
