"""The IO manager and resource on S3 (a moto server on 127.0.0.1), credentials given with EnvVar:
the run succeeds, the remote holds the dataset, the downstream asset reads it, and the secret
appears nowhere in Dagster's event log, run storage, captured compute logs or console output."""

import logging
from pathlib import Path
from typing import Any

import pytest
from dagster import (
    AssetExecutionContext,
    DagsterInstance,
    EnvVar,
    InMemoryIOManager,
    asset,
    materialize,
    serialize_value,
)

import etcetera
from dagster_etcetera import EtcIOManager, EtcResource
from etcetera.testing import TEST_KEY_ID, TEST_SECRET


@pytest.fixture
def s3_etc(monkeypatch: pytest.MonkeyPatch, no_ambient_aws: None, s3_endpoint: str, s3_bucket: str,
           tmp_path: Path) -> EtcResource:
    monkeypatch.setenv("ETC_TEST_KEY_ID", TEST_KEY_ID)
    monkeypatch.setenv("ETC_TEST_SECRET", TEST_SECRET)
    return EtcResource(
        url=f"s3://{s3_bucket}/datasets",
        home=str(tmp_path / "home"),
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id=EnvVar("ETC_TEST_KEY_ID"),
        aws_secret_access_key=EnvVar("ETC_TEST_SECRET"),
    )


def test_materialize_on_s3_without_leaking_the_secret(
    s3_etc: EtcResource, make_dataset, own_instance: DagsterInstance, s3_endpoint: str, s3_bucket: str,
    tmp_path: Path, capfd: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)

    @asset
    def raw(context: AssetExecutionContext, etc: EtcResource) -> Path:
        # What a careless user might log: both must come out masked.
        context.log.info(f"resource: {etc!r}")
        context.log.info(f"config: {etc.get_config()!r}")
        print(f"stdout: {etc.get_config()}")
        assert etc.get_config().aws_secret_access_key == TEST_SECRET  # the secret did arrive
        return make_dataset({"train/a.bin": b"\x00\x01" * 500, "test/b.txt": b"b\n"}, meta={"cloud": "s3"})

    @asset(io_manager_key="values")
    def stats(raw: etcetera.Dataset) -> dict[str, Any]:
        return {"ref": raw.ref, "size": (raw["train"] / "a.bin").stat().st_size, "meta": raw.meta}

    result = materialize(
        [raw, stats],
        resources={"io_manager": EtcIOManager(etc=s3_etc), "etc": s3_etc, "values": InMemoryIOManager()},
        instance=own_instance,
    )
    assert result.success
    assert result.output_for_node("stats") == {"ref": "raw@1", "size": 1000, "meta": {"cloud": "s3"}}
    (mat,) = result.asset_materializations_for_node("raw")
    md = {k: v.value for k, v in mat.metadata.items()}
    assert md["ref"] == "raw@1" and md["remote"] == f"s3://{s3_bucket}/datasets"
    assert md["partitions"] == {"test": {"files": 1, "bytes": 2}, "train": {"files": 1, "bytes": 1000}}
    assert md["files"] == 3 and md["bytes"] == 1002 + len(b'{"cloud": "s3"}')

    # remote content, read back with a plain etcetera.Config from another home
    reader = etcetera.Config(f"s3://{s3_bucket}/datasets", home=str(tmp_path / "reader"), endpoint_url=s3_endpoint,
                             region_name="us-east-1", aws_access_key_id=TEST_KEY_ID,
                             aws_secret_access_key=TEST_SECRET)
    assert etcetera.versions("raw", config=reader) == [1]
    pulled = etcetera.pull("raw", config=reader)
    assert (pulled["train"] / "a.bin").read_bytes() == b"\x00\x01" * 500

    # --- the secret appears nowhere Dagster keeps or shows things
    records = own_instance.all_logs(result.run_id)
    assert len(records) > 10
    event_text = "\n".join(str(r) + serialize_value(r) for r in records)
    messages = "\n".join(r.user_message for r in records)
    assert "raw@1" in event_text  # the scan does see what the run recorded...
    assert "aws_secret_access_key='***'" in messages  # ...including the logged config, masked
    assert TEST_SECRET not in event_text

    run = own_instance.get_run_by_id(result.run_id)
    run_text = str(run) + serialize_value(run)
    assert TEST_SECRET not in run_text

    stored = [p for p in Path(own_instance.root_directory).rglob("*") if p.is_file()]
    compute_logs = [p for p in stored if p.suffix in (".out", ".err")]
    assert compute_logs and any("stdout: Config(" in p.read_text(errors="replace") for p in compute_logs)
    assert "raw@1".encode() in b"".join(p.read_bytes() for p in stored)
    leaked_files = [str(p) for p in stored if TEST_SECRET.encode() in p.read_bytes()]
    assert leaked_files == []

    out, err = capfd.readouterr()
    assert "published raw@1" in out + err + caplog.text
    assert TEST_SECRET not in out + err
    assert TEST_SECRET not in caplog.text
    assert all(TEST_SECRET not in str(e) for e in result.all_events)


def test_missing_credentials_fail_the_step(monkeypatch: pytest.MonkeyPatch, no_ambient_aws: None,
                                                  s3_endpoint: str, s3_bucket: str, make_dataset, tmp_path: Path,
                                                  instance: DagsterInstance) -> None:
    """No credentials anywhere (moto accepts any signature, so a wrong secret would pass)."""
    etc = EtcResource(url=f"s3://{s3_bucket}", home=str(tmp_path / "home"), endpoint_url=s3_endpoint,
                      region_name="us-east-1")

    @asset
    def raw() -> Path:
        return make_dataset()

    result = materialize([raw], resources={"io_manager": EtcIOManager(etc=etc)}, instance=instance,
                         raise_on_error=False)
    assert not result.success
    (failure,) = result.get_step_failure_events()
    error = failure.step_failure_data.error
    assert "no AWS credentials found" in error.to_string()
