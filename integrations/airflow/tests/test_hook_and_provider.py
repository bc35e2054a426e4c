"""EtcHook against connections given as environment secrets, and the provider metadata as
Airflow's own providers manager sees it."""

from __future__ import annotations

import importlib.util
import json
import warnings
from pathlib import Path

import pytest

import etcetera as etc
from etcetera.config import config_keys
from etcetera_airflow.connection import LOGIN_KEYS
from etcetera_airflow.hooks.etc import EtcHook

from conftest import PLANTED_PASSWORD, conn_json

SA_KEY = "-----BEGIN PRIVATE KEY-----\nMIIplantedSAkeyHOOK987654\n-----END PRIVATE KEY-----\n"




def test_hook_builds_config_from_the_connection_only(file_conn: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # A ~/.etc.toml pointing elsewhere must be ignored.
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".etc.toml").write_text('url = "file:///must/not/be/used"\n')
    monkeypatch.delenv("ETC_CONFIG", raising=False)
    hook = EtcHook()
    cfg = hook.get_config()
    assert cfg.url == f"file://{file_conn}"
    assert cfg.home == str(tmp_path / "home")
    assert cfg.aws_secret_access_key == PLANTED_PASSWORD
    assert hook.get_conn() is cfg


def test_repr_of_hook_and_config_hide_the_password(file_conn: Path) -> None:
    hook = EtcHook()
    cfg = hook.get_config()
    for text in (repr(hook), str(hook), repr(cfg), str(cfg)):
        assert PLANTED_PASSWORD not in text
    assert "etc_default" in repr(hook)


def test_other_connection_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_ETC_OTHER", conn_json("s3://other-bucket", home=tmp_path,
                                                           region_name="eu-west-3"))
    cfg = EtcHook(etc_conn_id="etc_other").get_config()
    assert (cfg.url, cfg.region_name) == ("s3://other-bucket", "eu-west-3")


def test_give_up_seconds_reaches_the_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # As the UI form stores it (a string under the prefixed key) and as JSON written by hand (a number).
    monkeypatch.setenv("AIRFLOW_CONN_ETC_DEFAULT", conn_json("s3://b", home=tmp_path,
                                                             extra__etcetera__give_up_seconds="2.5"))
    monkeypatch.setenv("AIRFLOW_CONN_ETC_OTHER", conn_json("s3://b", home=tmp_path, give_up_seconds=30))
    assert EtcHook().get_config().give_up_seconds == 2.5
    assert EtcHook(etc_conn_id="etc_other").get_config().give_up == 30.0


def test_test_connection_lists_the_remote(file_conn: Path, tmp_path: Path, make_dataset) -> None:
    cfg = EtcHook().get_config()
    etc.register(make_dataset(tmp_path / "src" / "alpha"), config=cfg)
    etc.push("alpha", config=cfg)
    ok, message = EtcHook().test_connection()
    assert ok, message
    assert "1 dataset" in message and str(file_conn) in message


def test_test_connection_reports_a_bad_remote_without_secrets(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_ETC_DEFAULT", conn_json("ftp://nowhere", home=tmp_path))
    ok, message = EtcHook().test_connection()
    assert not ok and "ftp://nowhere" in message and PLANTED_PASSWORD not in message


def test_secrets_are_registered_with_the_log_masker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk._shared.secrets_masker import redact

    monkeypatch.setenv("AIRFLOW_CONN_ETC_DEFAULT", conn_json(
        "gs://bucket", home=tmp_path, google_application_credentials=json.dumps({"private_key": SA_KEY})))
    EtcHook().get_config()
    line = f"password={PLANTED_PASSWORD} key={SA_KEY}"
    redacted = redact(line)
    assert PLANTED_PASSWORD not in redacted and "MIIplantedSAkeyHOOK987654" not in redacted


def test_provider_is_listed_with_its_connection_type() -> None:
    from airflow.providers_manager import ProvidersManager

    try:  # Airflow 3.2+: hooks are a task-runtime concern, the form is declared in provider info
        from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime as HooksManager
        declarative = True
    except ImportError:  # Airflow 3.1: the form comes from the hook's methods and needs flask-appbuilder
        HooksManager, declarative = ProvidersManager, False

    pm = ProvidersManager()
    assert "etcetera-airflow" in pm.providers
    with warnings.catch_warnings():
        if declarative:
            warnings.simplefilter("error")  # the declarative form must not trip deprecation warnings
        hook_info = HooksManager().hooks["etcetera"]
        widgets = pm.connection_form_widgets
        behaviours = pm.field_behaviours
    assert hook_info is not None
    assert hook_info.hook_class_name == "etcetera_airflow.hooks.etc.EtcHook"
    assert hook_info.connection_id_attribute_name == "etc_conn_id"
    if not declarative and importlib.util.find_spec("flask_appbuilder") is None:
        return
    assert {"extra__etcetera__url", "extra__etcetera__endpoint_url",
            "extra__etcetera__google_application_credentials"} <= set(widgets)
    # The form is the Config key list: every key a field (the AWS key pair as login/password),
    # secret keys as password fields.
    keys = {key.name: key for key in config_keys()}
    form = {name.removeprefix("extra__etcetera__") for name in widgets if name.startswith("extra__etcetera__")}
    assert form | set(LOGIN_KEYS.values()) == set(keys) and not form & set(LOGIN_KEYS.values())
    for name in form:
        assert widgets[f"extra__etcetera__{name}"].is_sensitive == keys[name].secret, name
    behaviour = behaviours["etcetera"]
    assert "host" in behaviour["hidden_fields"]
    assert behaviour["relabeling"] == {"login": keys["aws_access_key_id"].label,
                                       "password": keys["aws_secret_access_key"].label}


def test_declared_form_fields_carry_label_help_and_type_of_their_config_key() -> None:
    from etcetera_airflow.get_provider_info import CONN_FIELDS

    keys = {key.name: key for key in config_keys()}
    assert set(CONN_FIELDS) == set(keys) - set(LOGIN_KEYS.values())
    for name, spec in CONN_FIELDS.items():
        assert (spec["label"], spec["description"]) == (keys[name].label, keys[name].help)
        assert (spec["schema"].get("format") == "password") == keys[name].secret
    assert CONN_FIELDS["give_up_seconds"]["schema"]["type"] == ["number", "null"]
    assert CONN_FIELDS["workers"]["schema"]["type"] == ["integer", "null"]
    assert CONN_FIELDS["public"]["schema"]["type"] == ["boolean", "null"]


def test_provider_info_matches_airflow_schema() -> None:
    import importlib.resources

    import jsonschema

    from etcetera_airflow.get_provider_info import get_provider_info

    schema = json.loads((importlib.resources.files("airflow") / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_connection_get_hook_resolves_to_etchook(file_conn: Path) -> None:
    from airflow.sdk import BaseHook

    hook = BaseHook.get_hook("etc_default")
    assert isinstance(hook, EtcHook) and hook.etc_conn_id == "etc_default"
    assert hook.get_config().url == f"file://{file_conn}"
