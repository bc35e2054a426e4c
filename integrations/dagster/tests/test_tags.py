"""A tag (NAME@TAG) and NAME@latest reach EtcResource's dataset/pull in a real Dagster run: the
core resolves them, the resource passes the ref through."""

from __future__ import annotations

from pathlib import Path

from dagster import asset, materialize

import etcetera
from dagster_etcetera import EtcResource


def test_resource_pulls_by_tag_and_latest_in_a_run(file_etc: EtcResource, make_dataset, tmp_path: Path) -> None:
    file_etc.push("sample", make_dataset({"train/a.txt": b"one\n"}))
    file_etc.push("sample", make_dataset({"train/a.txt": b"two\n"}))
    etcetera.tag("sample@1", "stable", config=file_etc.get_config())
    seen = {}

    @asset
    def consumer(etc: EtcResource) -> None:
        stable = etc.pull("sample@stable")
        seen["stable"] = (stable.version, (stable["train"] / "a.txt").read_text())
        seen["latest"] = etc.dataset("sample@latest").version

    reader = EtcResource(url=file_etc.url, home=str(tmp_path / "reader-home"))
    assert materialize([consumer], resources={"etc": reader}).success
    assert seen == {"stable": (1, "one\n"), "latest": 2}
