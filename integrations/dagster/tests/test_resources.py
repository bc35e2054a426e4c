"""EtcResource: fields -> etcetera.Config, secrets kept out of reprs, dataset/push/pull on a file:// remote."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import EnvVar, asset, materialize

import etcetera
from dagster_etcetera import EtcIOManager, EtcResource
from dagster_etcetera.resources import CONFIG_KEYS
from etcetera.config import config_keys

SECRET = "resource-secret-value-31337"


def test_get_config_maps_every_field() -> None:
    r = EtcResource(
        url="s3://bucket/prefix", home="/tmp/etc-home", endpoint_url="http://127.0.0.1:9000",
        region_name="eu-west-1", aws_access_key_id="AKIA1", aws_secret_access_key=SECRET,
        aws_session_token="tok", project="proj", workers=4,
    )
    cfg = r.get_config()
    assert isinstance(cfg, etcetera.Config)
    assert cfg.to_dict(secrets=True) == {
        "url": "s3://bucket/prefix", "home": "/tmp/etc-home", "endpoint_url": "http://127.0.0.1:9000",
        "region_name": "eu-west-1", "aws_access_key_id": "AKIA1", "aws_secret_access_key": SECRET,
        "aws_session_token": "tok", "project": "proj", "workers": 4,
    }


def test_public_and_gcs_credentials_and_empty_strings() -> None:
    cfg = EtcResource(url="gs://b", public=True, google_application_credentials='{"type": "x"}',
                      endpoint_url="", region_name="").get_config()
    assert cfg.public is True
    assert cfg.service_account_info() == {"type": "x"}
    assert cfg.endpoint_url is None and cfg.region_name is None


def test_home_expands_user(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert EtcResource(url="file:///r", home="~/etc").get_config().home_path == tmp_path / "etc"


def test_never_reads_etc_toml(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    toml = tmp_path / ".etc.toml"
    toml.write_text('url = "file:///from-the-file"\nworkers = 3\n')
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("ETC_CONFIG", str(toml))
    cfg = EtcResource().get_config()
    assert cfg.url is None and cfg.workers is None
    with pytest.raises(etcetera.ConfigError, match="no remote configured"):
        EtcResource(home=str(tmp_path / "h")).versions("anything")


def test_secrets_are_not_in_repr() -> None:
    r = EtcResource(url="s3://b", aws_access_key_id="AKIA-SHOWN-NOWHERE", aws_secret_access_key=SECRET,
                    aws_session_token="session-tok-42", google_application_credentials='{"private_key": "pk-77"}',
                    azure_account_key="az-key-88", azure_sas_token="sv=1&sig=az-sig-99",
                    azure_connection_string="AccountName=a;AccountKey=az-conn-11")
    io = EtcIOManager(etc=r)
    for text in (repr(r), str(r), repr(r.get_config()), str(r.get_config()), repr(io), str(io)):
        assert "s3://b" in text
        for secret in (SECRET, "AKIA-SHOWN-NOWHERE", "session-tok-42", "pk-77", "az-key-88", "az-sig-99", "az-conn-11"):
            assert secret not in text


def test_push_dataset_pull_and_versions(file_etc: EtcResource, make_dataset, tmp_path: Path) -> None:
    first = make_dataset(meta={"source": "unit"})
    assert file_etc.push("sample", first) == "sample@1"
    assert file_etc.push("sample") == "sample@1"  # unchanged: no new version
    assert not (Path(file_etc.home) / "sample").exists()  # published from the folder: no copy in the home
    second = make_dataset({"train/a.txt": b"alpha v2\n", "test/b.txt": b"beta!\n"})
    assert file_etc.push("sample", second) == "sample@2"
    assert file_etc.versions("sample") == [2, 1]

    elsewhere = EtcResource(url=file_etc.url, home=str(tmp_path / "other-home"))
    old = elsewhere.dataset("sample", version=1)
    assert old.version == 1 and old.meta == {"source": "unit"}
    assert (old["train"] / "a.txt").read_text() == "alpha\n"
    new = elsewhere.pull("sample")
    assert new.version == 2 and (new["train"] / "a.txt").read_text() == "alpha v2\n"
    assert new.meta == {}
    assert elsewhere.dataset("sample").version == 2  # the local copy, no pull needed


def test_push_refuses_a_conflict_unless_forced(file_etc: EtcResource, make_dataset, tmp_path: Path) -> None:
    file_etc.push("shared", make_dataset())
    other = EtcResource(url=file_etc.url, home=str(tmp_path / "other-home"))
    src = make_dataset({"train/x.txt": b"mine\n"})
    with pytest.raises(etcetera.ConflictError):
        other.push("shared", src)
    assert other.push("shared", src, force=True) == "shared@2"


def test_env_var_fields_resolve_at_run_time(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ETC_TEST_URL", f"file://{tmp_path / 'remote'}")
    monkeypatch.setenv("ETC_TEST_SECRET", SECRET)
    seen = {}

    @asset
    def probe(etc: EtcResource) -> None:
        cfg = etc.get_config()
        seen["url"] = cfg.url
        seen["secret_ok"] = cfg.aws_secret_access_key == SECRET

    resource = EtcResource(url=EnvVar("ETC_TEST_URL"), aws_secret_access_key=EnvVar("ETC_TEST_SECRET"))
    assert materialize([probe], resources={"etc": resource}).success
    assert seen == {"url": f"file://{tmp_path / 'remote'}", "secret_ok": True}


def test_every_config_key_is_a_field_with_its_help_and_secrecy() -> None:
    # Fails when a key is added to etcetera.Config without a field here.
    fields = EtcResource.model_fields
    assert CONFIG_KEYS == tuple(key.name for key in config_keys())
    for key in config_keys():
        assert key.name in fields, f"EtcResource has no field for Config key {key.name!r}"
        field = fields[key.name]
        assert key.help in (field.description or ""), key.name
        assert field.repr is (not key.secret), key.name


def test_every_field_reaches_the_config() -> None:
    # One value per key: get_config() is generic over config_keys(), none is dropped.
    values = {"url": "s3://b", "home": "/h", "public": True, "endpoint_url": "http://127.0.0.1:1",
              "aws_access_key_id": "AKIA1", "aws_secret_access_key": SECRET, "aws_session_token": "tok",
              "region_name": "eu-west-1", "google_application_credentials": "/keys/sa.json", "project": "p",
              "azure_account_name": "acct", "azure_account_key": "azkey", "azure_sas_token": "sv=1&sig=x",
              "azure_connection_string": "AccountName=acct;AccountKey=k", "azure_account_url": "http://127.0.0.1:1/a",
              "workers": 3, "give_up_seconds": 2.5}
    assert set(values) == set(CONFIG_KEYS)
    assert EtcResource(**values).get_config().to_dict(secrets=True) == values


def test_give_up_seconds_reaches_the_config_from_run_config(tmp_path: Path) -> None:
    seen = {}

    @asset
    def probe(etc: EtcResource) -> None:
        seen["give_up"] = etc.get_config().give_up

    result = materialize(
        [probe], resources={"etc": EtcResource.configure_at_launch()},
        run_config={"resources": {"etc": {"config": {"url": f"file://{tmp_path}", "give_up_seconds": 2.5}}}},
    )
    assert result.success and seen == {"give_up": 2.5}


def test_give_up_seconds_out_of_range_names_the_key() -> None:
    with pytest.raises(etcetera.ConfigError, match="give_up_seconds"):
        EtcResource(url="s3://b", give_up_seconds=0, aws_secret_access_key=SECRET).get_config()


@pytest.mark.parametrize("field", ["aws_secret_access_key", "google_application_credentials", "workers"])
def test_a_wrongly_typed_value_is_not_echoed(field: str) -> None:
    # pydantic quotes the input by default: a secret put in the wrong shape would be printed.
    value = SECRET if field == "workers" else {"k": SECRET}
    with pytest.raises(Exception, match=field) as info:
        EtcResource(url="s3://b", **{field: value})
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)
