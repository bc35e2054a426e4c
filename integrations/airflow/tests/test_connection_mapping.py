"""Connection -> etcetera.Config mapping, on real airflow.sdk Connection objects parsed from the
same JSON form an AIRFLOW_CONN_<ID> environment secret holds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from airflow.sdk import Connection

import etcetera as etc
from etcetera.config import config_keys
from etcetera_airflow.connection import LOGIN_KEYS, asset_uri, config_from_connection, secret_values

from conftest import PLANTED_PASSWORD

SA_KEY = "-----BEGIN PRIVATE KEY-----\nMIIplantedSAkey0123456789\n-----END PRIVATE KEY-----\n"
SERVICE_ACCOUNT = {"type": "service_account", "project_id": "p", "private_key_id": "kid-planted-123456",
                   "private_key": SA_KEY, "client_email": "sa@p.iam.gserviceaccount.com"}


def conn(**fields) -> Connection:
    fields.setdefault("conn_type", "etcetera")
    return Connection.from_json(json.dumps(fields), conn_id="etc_test")


def test_login_password_and_extra_map_to_config_keys(tmp_path: Path) -> None:
    cfg = config_from_connection(conn(
        login="AKIAKEY", password=PLANTED_PASSWORD,
        extra={"url": "s3://bucket/prefix", "endpoint_url": "http://127.0.0.1:9000", "region_name": "eu-west-1",
               "aws_session_token": "tok-123456", "home": str(tmp_path), "workers": 4, "public": False},
    ))
    assert cfg == etc.Config("s3://bucket/prefix", home=str(tmp_path), endpoint_url="http://127.0.0.1:9000",
                             region_name="eu-west-1", aws_access_key_id="AKIAKEY",
                             aws_secret_access_key=PLANTED_PASSWORD, aws_session_token="tok-123456", workers=4)
    assert PLANTED_PASSWORD not in repr(cfg) and "tok-123456" not in repr(cfg)


def test_ui_form_fields_prefixes_strings_and_blanks() -> None:
    # What the web form stores: prefixed keys in older Airflow, strings, empty fields as "".
    cfg = config_from_connection(conn(extra={
        "extra__etcetera__url": " gs://bucket ", "public": "true", "workers": "8",
        "endpoint_url": "", "region_name": None, "extra__etcetera__project": "proj",
    }))
    assert (cfg.url, cfg.public, cfg.workers, cfg.project) == ("gs://bucket", True, 8, "proj")
    assert cfg.endpoint_url is None and cfg.region_name is None
    assert cfg.aws_access_key_id is None and cfg.aws_secret_access_key is None


@pytest.mark.parametrize("creds", [SERVICE_ACCOUNT, json.dumps(SERVICE_ACCOUNT)], ids=["object", "string"])
def test_service_account_json_inline(creds) -> None:
    cfg = config_from_connection(conn(extra={"url": "gs://bucket", "google_application_credentials": creds}))
    assert cfg.service_account_info() == SERVICE_ACCOUNT
    assert SA_KEY not in repr(cfg)
    secrets = secret_values(cfg)
    assert SA_KEY in secrets and "kid-planted-123456" in secrets


def test_service_account_path_is_kept_as_a_path() -> None:
    cfg = config_from_connection(conn(extra={"url": "gs://b", "google_application_credentials": "/keys/sa.json"}))
    assert cfg.google_application_credentials == "/keys/sa.json"
    assert cfg.service_account_info() is None and secret_values(cfg) == []


def test_secret_values_lists_keys_and_token() -> None:
    cfg = config_from_connection(conn(login="AKIAKEY", password=PLANTED_PASSWORD,
                                      extra={"url": "s3://b", "aws_session_token": "tok-123456"}))
    assert secret_values(cfg) == ["AKIAKEY", PLANTED_PASSWORD, "tok-123456"]


def test_form_strings_are_coerced_by_the_type_of_their_config_key() -> None:
    cfg = config_from_connection(conn(extra={"url": "s3://b", "workers": " 8 ", "give_up_seconds": "2.5",
                                             "public": "yes", "home": " /data "}))
    assert (cfg.workers, cfg.give_up_seconds, cfg.public, cfg.home) == (8, 2.5, True, "/data")
    assert config_from_connection(conn(extra={"url": "s3://b", "give_up_seconds": 30})).give_up_seconds == 30


def test_secret_values_cover_every_secret_config_key() -> None:
    # One distinct planted value per secret key of the one list: a new secret key is masked with no edit.
    planted = {key.name: f"planted-{key.name}-9f8e7d" for key in config_keys() if key.secret}
    planted["google_application_credentials"] = json.dumps({**SERVICE_ACCOUNT, "private_key": "planted-pk-9f8e7d"})
    extra = {name: value for name, value in planted.items() if name not in LOGIN_KEYS.values()}
    cfg = config_from_connection(conn(login=planted.get("aws_access_key_id"),
                                      password=planted.get("aws_secret_access_key"), extra={"url": "s3://b", **extra}))
    secrets = secret_values(cfg)
    assert set(planted.values()) <= set(secrets)
    assert "planted-pk-9f8e7d" in secrets and "kid-planted-123456" in secrets
    assert "sa@p.iam.gserviceaccount.com" not in secrets and "s3://b" not in secrets


def test_missing_url_is_a_clear_error() -> None:
    with pytest.raises(etc.ConfigError, match="etc_test.*has no remote.*url"):
        config_from_connection(conn(login="AKIAKEY", password=PLANTED_PASSWORD))


def test_unknown_key_is_named_and_no_secret_is_echoed() -> None:
    with pytest.raises(etc.ConfigError) as err:
        config_from_connection(conn(password=PLANTED_PASSWORD,
                                    extra={"url": "s3://b", "secret_sauce": PLANTED_PASSWORD}))
    assert "secret_sauce" in str(err.value) and PLANTED_PASSWORD not in str(err.value)


def test_bad_values_name_the_key_not_the_value() -> None:
    with pytest.raises(etc.ConfigError, match="public"):
        config_from_connection(conn(extra={"url": "s3://b", "public": "maybe"}))
    with pytest.raises(etc.ConfigError, match="workers") as err:
        config_from_connection(conn(password=PLANTED_PASSWORD, extra={"url": "s3://b", "workers": PLANTED_PASSWORD}))
    assert PLANTED_PASSWORD not in str(err.value)
    with pytest.raises(etc.ConfigError, match="give_up_seconds") as err:
        config_from_connection(conn(password=PLANTED_PASSWORD,
                                    extra={"url": "s3://b", "give_up_seconds": PLANTED_PASSWORD}))
    assert PLANTED_PASSWORD not in str(err.value)


def test_extra_that_is_not_json_is_refused_without_echoing_it() -> None:
    c = Connection(conn_id="etc_test", conn_type="etcetera", extra='{"url": "s3://b", "k": "' + PLANTED_PASSWORD)
    with pytest.raises(etc.ConfigError, match="not valid JSON") as err:
        config_from_connection(c)
    assert PLANTED_PASSWORD not in str(err.value)


@pytest.mark.parametrize(
    ("url", "uri"),
    [
        ("s3://bucket", "etc://s3/bucket/ds"),
        ("s3://bucket/some/prefix/", "etc://s3/bucket/some/prefix/ds"),
        ("gs://bucket", "etc://gs/bucket/ds"),
        ("az://container/prefix", "etc://az/container/prefix/ds"),
        ("file:///srv/etc", "etc://file/srv/etc/ds"),
    ],
)
def test_asset_uri_names_backend_location_and_dataset(url: str, uri: str) -> None:
    assert asset_uri(url, "ds") == uri
