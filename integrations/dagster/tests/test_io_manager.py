"""EtcIOManager under a real Dagster engine (dagster.materialize) on a file:// remote."""

from pathlib import Path
from typing import Any, Callable

import pytest
from dagster import (
    AssetExecutionContext,
    AssetKey,
    DagsterInstance,
    InMemoryIOManager,
    StaticPartitionsDefinition,
    asset,
    materialize,
)

import etcetera
from dagster_etcetera import EtcIOManager, EtcResource


def metadata(result: Any, node: str) -> dict[str, Any]:
    """The plain values of the output metadata of an asset's single materialization."""
    (mat,) = result.asset_materializations_for_node(node)
    return {k: v.value for k, v in mat.metadata.items()}


@pytest.fixture
def pipeline(make_dataset: Callable[..., Path]):
    """raw (a dataset folder whose files the test sets) -> stats (what the downstream asset saw)."""
    files: dict[str, bytes] = {"train/a.txt": b"alpha\n", "train/c.txt": b"gamma\n", "test/b.txt": b"beta!\n"}

    @asset
    def raw() -> Path:
        return make_dataset(dict(files), meta={"rows": len(files)})

    @asset(io_manager_key="values")
    def stats(raw: etcetera.Dataset) -> dict[str, Any]:
        return {
            "type": type(raw).__name__,
            "ref": raw.ref,
            "partitions": raw.keys(),
            "train": {p.name: p.read_text() for p in sorted(raw["train"].iterdir())},
            "meta": raw.meta,
        }

    return files, raw, stats


def resources(etc: EtcResource) -> dict[str, Any]:
    return {"io_manager": EtcIOManager(etc=etc), "values": InMemoryIOManager(), "etc": etc}


def test_asset_is_published_and_downstream_gets_a_dataset(
    pipeline, file_etc: EtcResource, instance: DagsterInstance, tmp_path: Path
) -> None:
    files, raw, stats = pipeline
    result = materialize([raw, stats], resources=resources(file_etc), instance=instance)
    assert result.success

    # remote content, seen from another home as a user of the remote would
    reader = etcetera.Config(file_etc.url, home=str(tmp_path / "reader"))
    assert etcetera.versions("raw", config=reader) == [1]
    pulled = etcetera.pull("raw", config=reader)
    assert (pulled["train"] / "c.txt").read_bytes() == b"gamma\n"
    assert (pulled["test"] / "b.txt").read_bytes() == b"beta!\n"
    assert pulled.meta == {"rows": 3}

    # the downstream value
    assert result.output_for_node("stats") == {
        "type": "Dataset", "ref": "raw@1", "partitions": ["test", "train"],
        "train": {"a.txt": "alpha\n", "c.txt": "gamma\n"}, "meta": {"rows": 3},
    }

    # output metadata, as the Dagster UI shows it
    md = metadata(result, "raw")
    assert md["dataset"] == "raw" and md["version"] == 1 and md["ref"] == "raw@1"
    assert md["partitions"] == {"test": {"files": 1, "bytes": 6}, "train": {"files": 2, "bytes": 12}}
    assert md["files"] == 4  # three data files and meta.json
    assert md["bytes"] == 18 + len(b'{"rows": 3}')
    assert md["remote"] == file_etc.url


def test_each_materialization_is_a_new_version(pipeline, file_etc: EtcResource, instance: DagsterInstance,
                                               tmp_path: Path) -> None:
    files, raw, stats = pipeline
    assert materialize([raw], resources=resources(file_etc), instance=instance).success
    files["train/a.txt"] = b"alpha, revised\n"
    second = materialize([raw, stats], resources=resources(file_etc), instance=instance)
    assert metadata(second, "raw")["version"] == 2
    assert second.output_for_node("stats")["train"]["a.txt"] == "alpha, revised\n"
    # same content again: the latest version is reused, nothing new is published
    third = materialize([raw], resources=resources(file_etc), instance=instance)
    assert metadata(third, "raw")["ref"] == "raw@2"
    assert etcetera.versions("raw", config=file_etc.get_config()) == [2, 1]

    # a fresh worker (empty home) materializing again publishes on top, not a conflict
    fresh = EtcResource(url=file_etc.url, home=str(tmp_path / "fresh-home"))
    files["test/b.txt"] = b"beta, from elsewhere\n"
    fourth = materialize([raw], resources=resources(fresh), instance=instance)
    assert metadata(fourth, "raw")["ref"] == "raw@3"


def test_downstream_alone_pulls_from_the_remote(pipeline, file_etc: EtcResource, instance: DagsterInstance,
                                                tmp_path: Path) -> None:
    files, raw, stats = pipeline
    assert materialize([raw], resources=resources(file_etc), instance=instance).success
    elsewhere = EtcResource(url=file_etc.url, home=str(tmp_path / "worker-2"))
    result = materialize([raw, stats], selection=[stats], resources=resources(elsewhere), instance=instance)
    assert result.output_for_node("stats")["ref"] == "raw@1"
    assert result.output_for_node("stats")["train"]["c.txt"] == "gamma\n"
    assert (tmp_path / "worker-2" / "raw" / "data" / "train" / "c.txt").read_text() == "gamma\n"


def publish_outside_dagster(name: str, etc: EtcResource, tmp_path: Path, content: bytes) -> str:
    """Someone pushes a newer version of `name` with the etc tools, not through Dagster."""
    other = etcetera.Config(etc.url, home=str(tmp_path / "outsider"))
    ds = etcetera.pull(name, config=other)
    for f in (ds.path / "data").rglob("*"):
        if f.is_file():
            f.write_bytes(content)
    return etcetera.push(name, config=other, force=True)


def test_downstream_reads_the_version_dagster_recorded(pipeline, file_etc: EtcResource, instance: DagsterInstance,
                                                       tmp_path: Path) -> None:
    files, raw, stats = pipeline
    assert materialize([raw], resources=resources(file_etc), instance=instance).success
    assert publish_outside_dagster("raw", file_etc, tmp_path, b"not from dagster\n") == "raw@2"
    elsewhere = EtcResource(url=file_etc.url, home=str(tmp_path / "worker-2"))
    result = materialize([raw, stats], selection=[stats], resources=resources(elsewhere), instance=instance)
    assert result.output_for_node("stats")["ref"] == "raw@1"
    assert result.output_for_node("stats")["train"]["a.txt"] == "alpha\n"
    # with no materialization recorded (a fresh instance), the latest version is what there is
    with DagsterInstance.ephemeral() as fresh:
        result = materialize([raw, stats], selection=[stats], resources=resources(elsewhere), instance=fresh)
    assert result.output_for_node("stats")["ref"] == "raw@2"


def test_key_prefix_becomes_a_dotted_name(make_dataset, file_etc: EtcResource, instance: DagsterInstance) -> None:
    @asset(key_prefix=["lake", "bronze"])
    def images() -> str:
        return str(make_dataset())

    result = materialize([images], resources=resources(file_etc), instance=instance)
    assert metadata(result, "lake__bronze__images")["ref"] == "lake.bronze.images@1"
    assert etcetera.ls(remote=True, config=file_etc.get_config()) == ["lake.bronze.images"]


def test_partitions_are_separate_datasets(make_dataset, file_etc: EtcResource, instance: DagsterInstance) -> None:
    regions = StaticPartitionsDefinition(["eu", "us"])

    @asset(partitions_def=regions)
    def events(context: AssetExecutionContext) -> Path:
        return make_dataset({f"train/{context.partition_key}.csv": context.partition_key.encode()})

    @asset(partitions_def=regions, io_manager_key="values")
    def per_region(events: etcetera.Dataset) -> str:
        (only,) = events["train"].iterdir()
        return f"{events.ref}:{only.name}={only.read_text()}"

    @asset(io_manager_key="values")
    def everywhere(events: dict[str, etcetera.Dataset]) -> dict[str, str]:
        return {k: ds.ref for k, ds in events.items()}

    res = resources(file_etc)
    eu = materialize([events, per_region], partition_key="eu", resources=res, instance=instance)
    assert metadata(eu, "events")["ref"] == "events.eu@1"
    assert eu.output_for_node("per_region") == "events.eu@1:eu.csv=eu"
    us = materialize([events], partition_key="us", resources=res, instance=instance)
    assert metadata(us, "events")["dataset"] == "events.us"
    assert etcetera.ls(remote=True, config=file_etc.get_config()) == ["events.eu", "events.us"]

    # an unpartitioned downstream asset gets every partition, keyed by partition
    all_of_them = materialize([events, everywhere], selection=[everywhere], resources=res, instance=instance)
    assert all_of_them.output_for_node("everywhere") == {"eu": "events.eu@1", "us": "events.us@1"}


def test_a_partition_range_in_one_run_takes_a_dict(make_dataset, file_etc: EtcResource,
                                                   instance: DagsterInstance, tmp_path: Path) -> None:
    days = StaticPartitionsDefinition(["d1", "d2", "d3"])

    @asset(partitions_def=days)
    def daily(context: AssetExecutionContext) -> dict[str, Path]:
        return {k: make_dataset({f"all/{k}.txt": k.encode()}) for k in context.partition_keys}

    tags = {"dagster/asset_partition_range_start": "d1", "dagster/asset_partition_range_end": "d2"}
    result = materialize([daily], tags=tags, resources=resources(file_etc), instance=instance)
    assert result.success
    assert etcetera.ls(remote=True, config=file_etc.get_config()) == ["daily.d1", "daily.d2"]
    (mat, *_) = result.asset_materializations_for_node("daily")
    assert mat.metadata["datasets"].value == {"d1": "daily.d1@1", "d2": "daily.d2@1"}

    # each partition of the range reads the version that run recorded for it
    @asset(partitions_def=days, io_manager_key="values")
    def reader(daily: etcetera.Dataset) -> str:
        return daily.ref

    assert publish_outside_dagster("daily.d2", file_etc, tmp_path, b"outside") == "daily.d2@2"
    d2 = materialize([daily, reader], selection=[reader], partition_key="d2", resources=resources(file_etc),
                     instance=instance)
    assert d2.output_for_node("reader") == "daily.d2@1"

    @asset(partitions_def=days, name="daily")
    def daily_one_folder(context: AssetExecutionContext) -> Path:
        return make_dataset()

    with pytest.raises(etcetera.DatasetError) as info:
        materialize([daily_one_folder], tags=tags, resources=resources(file_etc), instance=instance)
    assert str(info.value) == (
        "asset daily materializes 2 partitions in one run (d1, d2): return a dict "
        "{partition_key: dataset folder} with exactly these keys"
    )


@pytest.mark.parametrize(
    "returned, message",
    [
        (42, "asset bad returned an object of type int, not a dataset folder"),
        (None, "asset bad returned an object of type NoneType, not a dataset folder"),
        ("/no/such/folder", "asset bad returned '/no/such/folder', which is not a directory"),
        ("EMPTY", "which is not a dataset: "),
    ],
)
def test_not_a_dataset_folder_is_a_clear_one_line_error(returned: Any, message: str, file_etc: EtcResource,
                                                        instance: DagsterInstance, tmp_path: Path) -> None:
    if returned == "EMPTY":
        returned = tmp_path / "just-a-folder"
        returned.mkdir()
        (returned / "notes.txt").write_text("no data/ here")

    @asset
    def bad() -> Any:
        return returned

    with pytest.raises(etcetera.DatasetError) as info:
        materialize([bad], resources=resources(file_etc), instance=instance)
    text = str(info.value)
    assert message in text and "\n" not in text
    if returned is not None and isinstance(returned, Path):
        assert "has no data/ folder" in text
    assert etcetera.ls(remote=True, config=file_etc.get_config()) == []


def test_op_outputs_without_an_asset_key_are_refused(file_etc: EtcResource) -> None:
    from dagster import job, op

    @op
    def make() -> str:
        return "/tmp"

    @job(resource_defs={"io_manager": EtcIOManager(etc=file_etc)})
    def plain():
        make()

    with pytest.raises(etcetera.DatasetError, match="EtcIOManager stores assets only"):
        plain.execute_in_process()


def test_io_manager_and_assets_share_one_resource(make_dataset, file_etc: EtcResource,
                                                  instance: DagsterInstance) -> None:
    @asset(io_manager_key="values")
    def published(etc: EtcResource) -> str:
        return etc.push("by-hand", make_dataset())

    @asset(io_manager_key="values")
    def fetched(etc: EtcResource, published: str) -> list[str]:
        return etc.dataset("by-hand").keys()

    result = materialize([published, fetched], resources=resources(file_etc), instance=instance)
    assert result.output_for_node("published") == "by-hand@1"
    assert result.output_for_node("fetched") == ["test", "train"]
    assert AssetKey("published") in {m.asset_key for m in result.asset_materializations_for_node("published")}


def test_publishing_an_asset_writes_no_second_copy(file_etc: EtcResource, instance: DagsterInstance,
                                                    make_dataset: Callable[..., Path]) -> None:
    """handle_output publishes the returned folder straight from where it is: the home gains a
    state, never a copy of the data (at most 10 % of the dataset's size, issue 15)."""
    import os

    files = {f"train/{i:02d}.bin": os.urandom(64 << 10) for i in range(32)}
    folder = make_dataset(files)

    @asset
    def big() -> Path:
        return folder

    assert materialize([big], resources={"io_manager": EtcIOManager(etc=file_etc)}, instance=instance).success
    home = Path(file_etc.home)
    used = sum(p.lstat().st_blocks * 512 for p in home.rglob("*") if p.is_file())
    assert used <= sum(map(len, files.values())) // 10, used
    assert etcetera.versions("big", config=file_etc.get_config()) == [1]
