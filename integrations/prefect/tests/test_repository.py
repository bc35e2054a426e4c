"""The EtcRepository block on its own: the Config it builds, secret hygiene, where config comes from."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

from typing import Optional

import pydantic
import pytest
from pydantic import SecretStr

import etcetera as etc
from etcetera.testing import TEST_KEY_ID, TEST_SECRET
from etcetera.config import config_keys
from prefect.types import SecretDict
from prefect_etcetera import EtcRepository, resolve_config
from prefect_etcetera.repository import FIELDS_OF

SESSION_TOKEN = "etc-test-session-token-DO-NOT-LEAK-41d2"
SA_INFO = {"type": "service_account", "client_email": "ci@example.iam", "private_key": "PK-DO-NOT-LEAK-93be"}


def test_get_config_maps_every_s3_field(tmp_path: Path) -> None:
    block = EtcRepository(
        url="s3://bucket/team", home=str(tmp_path / "h"), endpoint_url="http://127.0.0.1:9000",
        region_name="eu-west-1", aws_access_key_id=TEST_KEY_ID, aws_secret_access_key=TEST_SECRET,
        aws_session_token=SESSION_TOKEN, workers=4,
    )
    config = block.get_config()
    assert isinstance(config, etc.Config)
    assert config.to_dict(secrets=True) == {
        "url": "s3://bucket/team", "home": str(tmp_path / "h"), "endpoint_url": "http://127.0.0.1:9000",
        "region_name": "eu-west-1", "aws_access_key_id": TEST_KEY_ID, "aws_secret_access_key": TEST_SECRET,
        "aws_session_token": SESSION_TOKEN, "workers": 4,
    }
    assert config.home_path == tmp_path / "h"


def test_get_config_gcs_info_and_file() -> None:
    with_info = EtcRepository(url="gs://bucket", service_account_info=SA_INFO, project="proj").get_config()
    assert with_info.google_application_credentials == SA_INFO
    assert with_info.service_account_info() == SA_INFO
    assert with_info.project == "proj"
    with_file = EtcRepository(url="gs://bucket", service_account_file="/keys/sa.json").get_config()
    assert with_file.google_application_credentials == "/keys/sa.json"
    assert with_file.service_account_info() is None


def test_public_and_unset_fields() -> None:
    config = EtcRepository(url="s3://open-data", public=True, aws_access_key_id="", region_name=None).get_config()
    assert config.public is True
    assert config.to_dict(secrets=True) == {"url": "s3://open-data", "public": True}


def test_secrets_stay_masked_outside_get_config() -> None:
    block = EtcRepository(url="s3://bucket", aws_access_key_id=TEST_KEY_ID, aws_secret_access_key=TEST_SECRET,
                          aws_session_token=SESSION_TOKEN, service_account_info=SA_INFO)
    shown = [repr(block), str(block), block.model_dump_json(), repr(block.get_config()), str(block.get_config())]
    for text in shown:
        assert TEST_SECRET not in text and TEST_KEY_ID not in text
        assert SESSION_TOKEN not in text
        assert SA_INFO["private_key"] not in text
    assert "aws_secret_access_key=SecretStr('**********')" in repr(block)
    # The values are there, only hidden.
    assert block.aws_secret_access_key.get_secret_value() == TEST_SECRET
    assert block.service_account_info.get_secret_value() == SA_INFO


def test_every_config_key_has_a_block_field() -> None:
    # Fails when a key is added to etcetera.Config without a field here; secret keys must be secrets
    # (a path to a key file, service_account_file, is not the secret itself).
    fields = EtcRepository.model_fields
    for key in config_keys():
        names = FIELDS_OF.get(key.name, (key.name,))
        missing = [name for name in names if name not in fields]
        assert not missing, f"EtcRepository has no field {missing} for Config key {key.name!r}"
        if key.secret:
            assert any(fields[n].annotation in (Optional[SecretStr], Optional[SecretDict]) for n in names), key.name
            assert all(fields[n].annotation in (Optional[SecretStr], Optional[SecretDict]) or n.endswith("_file")
                       for n in names), key.name
        for name in names:
            assert fields[name].description and fields[name].title, name
    assert fields["give_up_seconds"].description == next(k.help for k in config_keys() if k.name == "give_up_seconds")


def test_every_field_reaches_the_config() -> None:
    block = EtcRepository(url="s3://b", home="/h", public=True, endpoint_url="http://127.0.0.1:1",
                          aws_access_key_id=TEST_KEY_ID, aws_secret_access_key=TEST_SECRET,
                          aws_session_token=SESSION_TOKEN, region_name="eu-west-1", service_account_info=SA_INFO,
                          project="p", azure_account_name="acct", azure_account_key="azure-key-planted",
                          azure_sas_token="sv=1&sig=planted", azure_connection_string="AccountName=acct;AccountKey=k",
                          azure_account_url="http://127.0.0.1:1/acct", workers=3, give_up_seconds=2.5)
    assert set(block.get_config().to_dict(secrets=True)) == {key.name for key in config_keys()}
    assert block.get_config().give_up_seconds == 2.5


def test_give_up_seconds_range_checked() -> None:
    with pytest.raises(pydantic.ValidationError, match="give_up_seconds"):
        EtcRepository(url="file:///tmp/r", give_up_seconds=0)


def test_invalid_url_is_rejected_when_the_block_is_made() -> None:
    with pytest.raises(pydantic.ValidationError, match="must look like file:///path, s3://bucket"):
        EtcRepository(url="my-bucket", aws_secret_access_key=TEST_SECRET)


def test_both_service_account_forms_rejected_without_echoing_the_secret() -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        EtcRepository(url="gs://bucket", service_account_info=SA_INFO, service_account_file="/keys/sa.json",
                      aws_secret_access_key=TEST_SECRET)
    assert "not both" in str(info.value)
    assert SA_INFO["private_key"] not in str(info.value)
    assert TEST_SECRET not in str(info.value)


def test_workers_range_checked() -> None:
    with pytest.raises(pydantic.ValidationError, match="workers"):
        EtcRepository(url="file:///tmp/r", workers=0)


def _plant_local_config(home: Path, url: str) -> None:
    (home / ".etc.toml").write_text(f'url = "{url}"\nworkers = 3\n')


def test_block_never_reads_the_local_config_file(_isolated_home: Path) -> None:
    _plant_local_config(_isolated_home, "file:///decoy")
    config = resolve_config(EtcRepository(url="file:///from-block"))
    assert config.url == "file:///from-block"
    assert config.workers is None


def test_no_block_needs_an_explicit_opt_in(_isolated_home: Path) -> None:
    _plant_local_config(_isolated_home, "file:///decoy")
    with pytest.raises(ValueError, match="use_local_config=True"):
        resolve_config(None)
    config = resolve_config(None, use_local_config=True)
    assert config.url == "file:///decoy"
    assert config.workers == 3


def test_block_and_local_config_together_is_an_error() -> None:
    with pytest.raises(ValueError, match="not both"):
        resolve_config(EtcRepository(url="file:///r"), use_local_config=True)


def test_block_type_metadata_for_registration() -> None:
    assert EtcRepository.get_block_type_slug() == "etcetera-repository"
    assert EtcRepository.get_block_type_name() == "Etcetera Repository"
    assert "push_dataset" in EtcRepository.get_description()
    assert "EtcRepository.load" in EtcRepository.get_code_example()
    schema = EtcRepository.model_json_schema()
    assert schema["required"] == ["url"]
    assert set(schema["secret_fields"]) >= {"aws_access_key_id", "aws_secret_access_key", "aws_session_token",
                                            "service_account_info.*"}
    assert schema["properties"]["give_up_seconds"]["title"] == "Give Up After (seconds)"


def test_collection_entry_point_is_installed() -> None:
    points = importlib.metadata.entry_points(group="prefect.collections")
    assert any(ep.name == "prefect_etcetera" and ep.value == "prefect_etcetera" for ep in points)


@pytest.mark.parametrize("field", ["aws_access_key_id", "aws_secret_access_key", "service_account_info",
                                   "give_up_seconds"])
def test_a_wrongly_typed_value_is_not_echoed(field: str) -> None:
    # pydantic quotes the input by default: a secret put in the wrong shape would be printed.
    value = TEST_SECRET if field in ("service_account_info", "give_up_seconds") else {"k": TEST_SECRET}
    with pytest.raises(pydantic.ValidationError, match=field) as info:
        EtcRepository(url="s3://bucket", **{field: value})
    assert TEST_SECRET not in str(info.value) and TEST_SECRET not in repr(info.value)


def test_google_application_credentials_is_the_config_key_and_old_names_warn(tmp_path: Path) -> None:
    import json as _json

    as_json = EtcRepository(url="gs://bucket", google_application_credentials=_json.dumps(SA_INFO))
    assert as_json.get_config().service_account_info() == SA_INFO
    assert SA_INFO["private_key"] not in repr(as_json)
    as_path = EtcRepository(url="gs://bucket", google_application_credentials="/keys/sa.json").get_config()
    assert as_path.google_application_credentials == "/keys/sa.json"
    with pytest.warns(DeprecationWarning, match="service_account_info is deprecated: use google_application_credentials"):
        old = EtcRepository(url="gs://bucket", service_account_info=SA_INFO)
    assert old.get_config().service_account_info() == SA_INFO  # still works
    with pytest.warns(DeprecationWarning, match="service_account_file is deprecated"):
        EtcRepository(url="gs://bucket", service_account_file="/keys/sa.json")
    with pytest.raises(pydantic.ValidationError) as info:
        EtcRepository(url="gs://bucket", google_application_credentials=_json.dumps(SA_INFO),
                      service_account_info=SA_INFO)
    assert "not both" in str(info.value) and SA_INFO["private_key"] not in str(info.value)


def test_azure_secrets_are_secret_fields_and_reach_the_config() -> None:
    key, sas = "azure-key-DO-NOT-LEAK-5d1e", "sv=2024&sig=azure-sig-DO-NOT-LEAK-5d1e"
    conn = "AccountName=acct;AccountKey=azure-conn-DO-NOT-LEAK-5d1e"
    block = EtcRepository(url="az://container/prefix", azure_account_name="acct", azure_account_key=key,
                          azure_sas_token=sas, azure_connection_string=conn,
                          azure_account_url="https://acct.blob.core.windows.net")
    assert set(EtcRepository.model_json_schema()["secret_fields"]) >= {
        "azure_account_key", "azure_sas_token", "azure_connection_string"}
    for text in (repr(block), str(block), block.model_dump_json(), repr(block.get_config())):
        assert key not in text and sas not in text and conn not in text
    config = block.get_config()
    assert (config.azure_account_key, config.azure_sas_token, config.azure_connection_string) == (key, sas, conn)
    assert (config.azure_account_name, config.azure_account_url) == ("acct", "https://acct.blob.core.windows.net")
