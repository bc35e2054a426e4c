"""The IO manager and resource on Azure Blob Storage (Azurite on 127.0.0.1, installed from npm on
first use) with a SAS token given through EnvVar: the downstream asset reads the dataset, and
neither the token nor its signature appears in Dagster's event log, run storage, compute logs,
console output or the DEBUG logs of the Azure SDK and urllib3."""

import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote, unquote

import pytest
from dagster import DagsterInstance, EnvVar, InMemoryIOManager, asset, materialize, serialize_value

import etcetera
from dagster_etcetera import EtcIOManager, EtcResource

pytest.importorskip("azure.storage.blob")

from etcetera.testing import AZURITE_ACCOUNT, AZURITE_KEY, azurite, make_container  # noqa: E402


@pytest.fixture(scope="module")
def az_endpoint() -> Iterator[str]:
    with azurite() as account_url:
        yield account_url


def _sas(container: str) -> str:
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    return generate_container_sas(AZURITE_ACCOUNT, container, account_key=AZURITE_KEY,
                                  permission=ContainerSasPermissions(read=True, write=True, list=True, delete=True,
                                                                     create=True, add=True),
                                  expiry=datetime.now(timezone.utc) + timedelta(hours=1))


def test_materialize_on_azure_with_a_sas_token_from_envvar(
    az_endpoint: str, make_dataset, own_instance: DagsterInstance, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    for var in ("AZURE_STORAGE_CONNECTION_STRING", "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET"):
        monkeypatch.delenv(var, raising=False)
    container = make_container(az_endpoint)
    sas = _sas(container)
    monkeypatch.setenv("ETC_TEST_AZURE_SAS", sas)
    etc = EtcResource(url=f"az://{container}/lake", home=str(tmp_path / "home"), azure_account_url=az_endpoint,
                      azure_sas_token=EnvVar("ETC_TEST_AZURE_SAS"))

    @asset
    def raw(etc: EtcResource) -> Path:
        print(f"stdout: {etc.get_config()}")  # what a careless user might print: masked
        return make_dataset({"train/a.bin": b"\x07" * 3000, "test/b.txt": b"b\n"}, meta={"cloud": "az"})

    @asset(io_manager_key="values")
    def stats(raw: etcetera.Dataset) -> dict[str, Any]:
        return {"ref": raw.ref, "a": (raw["train"] / "a.bin").read_bytes() == b"\x07" * 3000, "meta": raw.meta}

    result = materialize([raw, stats], instance=own_instance,
                         resources={"io_manager": EtcIOManager(etc=etc), "etc": etc, "values": InMemoryIOManager()})
    assert result.success
    assert result.output_for_node("stats") == {"ref": "raw@1", "a": True, "meta": {"cloud": "az"}}

    reader = etcetera.Config(f"az://{container}/lake", home=str(tmp_path / "reader"), azure_account_url=az_endpoint,
                             azure_account_key=AZURITE_KEY)
    assert etcetera.versions("raw", config=reader) == [1]
    assert (etcetera.pull("raw", config=reader)["test"] / "b.txt").read_bytes() == b"b\n"

    sig = unquote(next(p[4:] for p in sas.split("&") if p.startswith("sig=")))
    needles = [sas, sig, quote(sig, safe="")]
    records = own_instance.all_logs(result.run_id)
    event_text = "\n".join(str(r) + serialize_value(r) for r in records)
    assert "raw@1" in event_text
    assert "Request URL" in caplog.text  # the Azure SDK's HTTP log was captured: the scan below means something
    stored = [p for p in Path(own_instance.root_directory).rglob("*") if p.is_file()]
    assert any("stdout: Config(" in p.read_text(errors="replace") for p in stored if p.suffix in (".out", ".err"))
    out, err = capfd.readouterr()
    seen = [event_text, str(own_instance.get_run_by_id(result.run_id)), out, err, caplog.text,
            *(p.read_text(errors="replace") for p in stored)]
    assert not [n for n in needles for text in seen if n in text]


def test_the_example_on_azure_with_a_connection_string_from_the_environment(
    az_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture,
) -> None:
    """examples/dagster_assets.py, configured as its docstring says (EnvVar of AZURE_STORAGE_*)."""
    from etcetera.testing import azurite_connection_string

    from test_example import AZURE_ENV, load_example

    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_REGION",
                "GOOGLE_APPLICATION_CREDENTIALS", *AZURE_ENV):
        monkeypatch.delenv(var, raising=False)
    container = make_container(az_endpoint)
    monkeypatch.setenv("ETC_URL", f"az://{container}/example")
    monkeypatch.setenv("ETC_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite_connection_string(az_endpoint))
    example = load_example()
    assert example.etc.azure_connection_string.env_var_name == "AZURE_STORAGE_CONNECTION_STRING"
    example.main()
    out = capsys.readouterr().out
    assert "raw_squares@1: 3 files" in out and "cubes@1: 3 files" in out
    assert "raw_squares on the remote: intact" in out
    assert AZURITE_KEY not in out
    reader = etcetera.Config(f"az://{container}/example", home=str(tmp_path / "reader"),
                             azure_account_url=az_endpoint, azure_account_key=AZURITE_KEY)
    assert etcetera.ls(remote=True, config=reader) == ["cubes", "raw_squares"]
    assert etcetera.pull("cubes", config=reader).meta == {"description": "cubes", "derived_from": "raw_squares@1"}
