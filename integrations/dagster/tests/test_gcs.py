"""The IO manager and resource on GCS (fake-gcs-server on 127.0.0.1) with a service
account given through EnvVar: the client really signs with its key (a loopback token endpoint
grants the token), the downstream asset reads the dataset, and no line of the key appears in
Dagster's event log, run storage, compute logs or console output."""

import json
import logging
from pathlib import Path
from typing import Any, Iterator

import pytest
from dagster import DagsterInstance, EnvVar, InMemoryIOManager, asset, materialize, serialize_value

import etcetera
from dagster_etcetera import EtcIOManager, EtcResource

pytest.importorskip("google.cloud.storage")
pytest.importorskip("cryptography")

from etcetera.testing import (  # noqa: E402
    TokenService, gcs_emulator, gcs_token_service, make_gcs_bucket, private_key_lines, service_account_info,
)


@pytest.fixture
def gcs(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, TokenService]]:
    for var in ("GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    with gcs_token_service() as token, gcs_emulator() as emulator:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", emulator)
        yield make_gcs_bucket(emulator), token


def test_materialize_on_gcs_with_a_service_account_from_envvar(
    gcs: tuple[str, TokenService], make_dataset, own_instance: DagsterInstance, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    bucket, token = gcs
    sa = service_account_info(token.url)
    monkeypatch.setenv("ETC_TEST_GCS_SA", json.dumps(sa))
    etc = EtcResource(url=f"gs://{bucket}/lake", home=str(tmp_path / "home"), project="etc-test",
                      google_application_credentials=EnvVar("ETC_TEST_GCS_SA"))

    @asset
    def raw(etc: EtcResource) -> Path:
        print(f"stdout: {etc.get_config()}")  # what a careless user might print: masked
        return make_dataset({"train/a.bin": b"\x07" * 3000, "test/b.txt": b"b\n"}, meta={"cloud": "gs"})

    @asset(io_manager_key="values")
    def stats(raw: etcetera.Dataset) -> dict[str, Any]:
        return {"ref": raw.ref, "a": (raw["train"] / "a.bin").read_bytes() == b"\x07" * 3000, "meta": raw.meta}

    result = materialize([raw, stats], instance=own_instance,
                         resources={"io_manager": EtcIOManager(etc=etc), "etc": etc, "values": InMemoryIOManager()})
    assert result.success
    assert result.output_for_node("stats") == {"ref": "raw@1", "a": True, "meta": {"cloud": "gs"}}
    assert token.grants >= 1  # the key really signed a token request: no anonymous shortcut

    reader = etcetera.Config(f"gs://{bucket}/lake", home=str(tmp_path / "reader"), project="etc-test",
                             google_application_credentials=json.dumps(sa))
    assert etcetera.versions("raw", config=reader) == [1]
    assert (etcetera.pull("raw", config=reader)["test"] / "b.txt").read_bytes() == b"b\n"

    needles = private_key_lines(sa)
    records = own_instance.all_logs(result.run_id)
    event_text = "\n".join(str(r) + serialize_value(r) for r in records)
    assert "raw@1" in event_text
    stored = [p for p in Path(own_instance.root_directory).rglob("*") if p.is_file()]
    assert any("stdout: Config(" in p.read_text(errors="replace") for p in stored if p.suffix in (".out", ".err"))
    out, err = capfd.readouterr()
    seen = [event_text, str(own_instance.get_run_by_id(result.run_id)), out, err, caplog.text,
            *(p.read_text(errors="replace") for p in stored)]
    assert not [n for n in needles for text in seen if n in text]
