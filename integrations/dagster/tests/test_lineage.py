"""Data versions from content, dagster/uri, remote hand-off, an observable source asset and an
asset check that verifies on the remote, all on a real Dagster instance."""

from __future__ import annotations

from pathlib import Path

from dagster import AssetKey, AssetSelection, DagsterInstance, Definitions, EnvVar, InMemoryIOManager, asset, materialize

import etcetera
from dagster_etcetera import (
    EtcIOManager,
    EtcResource,
    RemoteDataset,
    dataset_uri,
    etc_dataset_check,
    etc_source_asset,
)
from etcetera.testing import TEST_KEY_ID, TEST_SECRET


def _materialization(result, node: str):
    (mat,) = result.asset_materializations_for_node(node)
    return mat


def _data_version(instance: DagsterInstance, key: str) -> str:
    record = instance.fetch_materializations(AssetKey([key]), limit=1).records[0]
    return record.event_log_entry.tags["dagster/data_version"]


def test_data_version_follows_content_not_runs(make_dataset, file_etc: EtcResource, file_url: str,
                                               instance: DagsterInstance) -> None:
    content = {"train/a.txt": b"same\n"}
    folders = iter([make_dataset(content), make_dataset(content), make_dataset({"train/a.txt": b"changed\n"})])

    @asset
    def birds() -> Path:
        return next(folders)

    resources = {"io_manager": EtcIOManager(etc=file_etc)}
    first = materialize([birds], resources=resources, instance=instance)
    v1 = _data_version(instance, "birds")
    meta = _materialization(first, "birds").metadata
    assert meta["dagster/uri"].value == dataset_uri(file_url, "birds")
    assert meta["dagster/uri"].value.startswith("etc://file/") and meta["dagster/uri"].value.endswith("/birds")
    assert meta["content_digest"].value == v1
    materialize([birds], resources=resources, instance=instance)  # same bytes from another folder
    assert _data_version(instance, "birds") == v1
    materialize([birds], resources=resources, instance=instance)
    v3 = _data_version(instance, "birds")
    assert v3 != v1 and len(v3) == 32
    assert etcetera.versions("birds", config=file_etc.get_config()) == [2, 1]


def test_downstream_can_get_the_remote_dataset_without_pulling(make_dataset, tmp_path: Path, file_url: str,
                                                               instance: DagsterInstance) -> None:
    writer = EtcResource(url=file_url, home=str(tmp_path / "writer-home"))
    reader = EtcResource(url=file_url, home=str(tmp_path / "reader-home"))
    folder = make_dataset({"train/a.txt": b"alpha\n", "test/b.txt": b"beta!\n"})

    @asset
    def fish() -> Path:
        return folder

    @asset(io_manager_key="mem")
    def fish_head(fish: RemoteDataset) -> str:
        assert isinstance(fish, RemoteDataset)
        with fish.open("data/train/a.txt") as f:
            first = f.read().decode()
        fs = fish.filesystem()
        with fs.open(fish.url("data/test/b.txt"), "rb") as f:
            return first + f.read().decode()

    materialize([fish], resources={"io_manager": EtcIOManager(etc=writer)}, instance=instance)
    result = materialize([fish, fish_head], selection=[fish_head], instance=instance,
                         resources={"io_manager": EtcIOManager(etc=reader, load_as="remote"), "mem": InMemoryIOManager()})
    assert result.success
    assert result.output_for_node("fish_head") == "alpha\nbeta!\n"
    assert not (tmp_path / "reader-home" / "fish").exists()  # nothing pulled


def test_source_asset_observes_the_latest_version_and_feeds_downstream(make_dataset, tmp_path: Path,
                                                                        file_url: str, own_instance) -> None:
    publisher = etcetera.Config(file_url, home=str(tmp_path / "publisher"))
    etcetera.register(make_dataset({"train/a.txt": b"one\n"}), "outside", config=publisher)
    etcetera.push("outside", config=publisher)
    etc = EtcResource(url=file_url, home=str(tmp_path / "home"))
    outside = etc_source_asset("outside")

    @asset(io_manager_key="mem")
    def counted(outside: etcetera.Dataset) -> int:
        return len((outside["train"] / "a.txt").read_text())

    defs = Definitions(assets=[outside, counted], resources={"etc": etc, "io_manager": EtcIOManager(etc=etc),
                                                          "mem": InMemoryIOManager()})
    job = defs.get_implicit_global_asset_job_def()

    def observe() -> str:
        from dagster._core.definitions.observe import observe as run_observe

        result = run_observe([outside], resources={"etc": etc}, instance=own_instance)
        assert result.success
        record = own_instance.fetch_observations(AssetKey(["outside"]), limit=1).records[0]
        return record.asset_observation.tags["dagster/data_version"]

    assert observe() == "outside@1"
    (src := make_dataset({"train/a.txt": b"two!!\n"}))
    etcetera.register(src, "outside", config=publisher, force=True)
    etcetera.push("outside", config=publisher)
    assert observe() == "outside@2"
    result = job.execute_in_process(instance=own_instance, asset_selection=[AssetKey(["counted"])])
    assert result.output_for_node("counted") == len("two!!\n")


def test_asset_check_verifies_the_recorded_version_on_the_remote(make_dataset, tmp_path: Path, s3_endpoint: str,
                                                                 s3_bucket: str, no_ambient_aws, monkeypatch,
                                                                 instance: DagsterInstance) -> None:
    monkeypatch.setenv("ETC_TEST_SECRET", TEST_SECRET)
    etc = EtcResource(url=f"s3://{s3_bucket}/ds", home=str(tmp_path / "home"), endpoint_url=s3_endpoint,
                      region_name="us-east-1", aws_access_key_id=TEST_KEY_ID,
                      aws_secret_access_key=EnvVar("ETC_TEST_SECRET"))
    folder = make_dataset({"train/a.txt": b"alpha\n" * 100, "test/b.txt": b"beta!\n"})

    @asset
    def herons() -> Path:
        return folder

    check = etc_dataset_check(herons, deep=True)
    resources = {"etc": etc, "io_manager": EtcIOManager(etc=etc)}
    result = materialize([herons, check], resources=resources, instance=instance)
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.passed
    meta = {k: v.value for k, v in evaluation.metadata.items()}
    assert meta["ref"] == "herons@1" and meta["deep"] is True and meta["problems"] == 0
    assert meta["objects_checked"] >= 1 and meta["bytes_read"] > 0
    assert meta["dagster/uri"] == f"etc://s3/{s3_bucket}/ds/herons"

    # Damage the remote: delete the data objects of the version; the check fails and says what is missing.
    import boto3
    from etcetera.remote import object_key

    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id=TEST_KEY_ID,
                      aws_secret_access_key=TEST_SECRET)
    checker = etcetera.Config(f"s3://{s3_bucket}/ds", home=str(tmp_path / "checker"), endpoint_url=s3_endpoint,
                              region_name="us-east-1", aws_access_key_id=TEST_KEY_ID, aws_secret_access_key=TEST_SECRET)
    with etcetera.Repository(checker) as repo:
        data_objects = list(repo.remote.manifest("herons", 1).objects)
    for oid in data_objects:
        s3.delete_object(Bucket=s3_bucket, Key=f"ds/{object_key(oid)}")

    def run_check() -> dict:
        result = materialize([herons, check], selection=AssetSelection.checks(check), resources=resources,
                             instance=instance)
        (evaluation,) = result.get_asset_check_evaluations()
        assert not evaluation.passed
        return {k: v.value for k, v in evaluation.metadata.items()}

    meta = run_check()
    assert meta["ref"] == "herons@1" and meta["problems"] == len(data_objects)
    assert meta["first_problems"][0]["issue"] == "missing"
    assert TEST_SECRET not in repr(meta)
    # Its metadata gone too (shards live in objects/): still a failed check naming the damage, not a crash.
    for obj in s3.list_objects_v2(Bucket=s3_bucket, Prefix="ds/objects/").get("Contents", []):
        s3.delete_object(Bucket=s3_bucket, Key=obj["Key"])
    meta = run_check()
    assert "damaged" in meta["error"] and meta["ref"] == "herons@1"


def test_version_sensor_requests_one_run_per_new_version(make_dataset, tmp_path: Path, file_url: str,
                                                         instance: DagsterInstance) -> None:
    from dagster import build_sensor_context

    from dagster_etcetera import etc_version_sensor

    publisher = etcetera.Config(file_url, home=str(tmp_path / "publisher"))
    etc = EtcResource(url=file_url, home=str(tmp_path / "home"))

    @asset
    def terns_report() -> None:
        return None

    watch = etc_version_sensor("terns", target=[terns_report])

    def tick(cursor: str | None):
        context = build_sensor_context(instance=instance, cursor=cursor, resources={"etc": etc})
        return watch.evaluate_tick(context)

    nothing = tick(None)
    assert nothing.run_requests == [] and "no version of terns" in (nothing.skip_message or "")
    etcetera.register(make_dataset({"train/a.txt": b"1\n"}), "terns", config=publisher)
    etcetera.push("terns", config=publisher)
    first = tick(None)
    assert [r.run_key for r in first.run_requests] == ["terns@1"] and first.cursor == "1"
    assert tick(first.cursor).run_requests == []  # the same version does not trigger again
    etcetera.register(make_dataset({"train/a.txt": b"2\n"}), "terns", config=publisher, force=True)
    etcetera.push("terns", config=publisher)
    second = tick(first.cursor)
    assert [r.run_key for r in second.run_requests] == ["terns@2"] and second.cursor == "2"
