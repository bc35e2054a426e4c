"""Provider metadata, found by Airflow through the `apache_airflow_provider` entry point."""

from __future__ import annotations

from typing import Any

from etcetera.config import ConfigKey

from etcetera_airflow.connection import FORM_KEYS, LOGIN_KEYS, label_of

_JSON_TYPES = ((bool, "boolean"), (float, "number"), (int, "integer"))


def _conn_field(key: ConfigKey) -> dict[str, Any]:
    """One form field from its Config key: label, help and JSON type; secrets as password fields."""
    kind = next((name for t, name in _JSON_TYPES if t in key.types), "string")
    schema: dict[str, Any] = {"type": [kind, "null"]}
    if kind == "boolean":
        schema["default"] = False
    if key.secret:
        schema["format"] = "password"
    return {"label": key.label, "schema": schema, "description": key.help}


#: Extra fields of the connection form (Airflow 3.2+ reads them from here, stored in `extra`):
#: every Config key but the AWS key pair, which is the connection's login and password.
CONN_FIELDS: dict[str, dict[str, Any]] = {key.name: _conn_field(key) for key in FORM_KEYS}

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["host", "schema", "port"],
    "relabeling": {attribute: label_of(key) for attribute, key in LOGIN_KEYS.items()},
    "placeholders": {
        "url": "s3://my-bucket",
        "endpoint_url": "https://s3.example.com",
        "region_name": "us-east-1",
        "home": "~/.etc",
        "give_up_seconds": "10",
        "extra": '{"url": "s3://my-bucket", "region_name": "us-east-1"}',
    },
}


def get_provider_info() -> dict[str, Any]:
    """What Airflow lists for this provider: its hook, operators, sensor, trigger and connection type."""
    integration = "etcetera"
    return {
        "package-name": "etcetera-airflow",
        "name": "etcetera",
        "description": "Push, pull and wait for versioned, content-addressed datasets with etcetera.",
        "versions": ["0.1.0"],
        "integrations": [{"integration-name": integration, "tags": ["service"]}],
        "hooks": [{"integration-name": integration, "python-modules": ["etcetera_airflow.hooks.etc"]}],
        "operators": [{"integration-name": integration, "python-modules": ["etcetera_airflow.operators.etc"]}],
        "sensors": [{"integration-name": integration, "python-modules": ["etcetera_airflow.sensors.etc"]}],
        "triggers": [{"integration-name": integration, "python-modules": ["etcetera_airflow.triggers.etc"]}],
        "asset-uris": [
            {
                "schemes": ["etc"],
                "handler": "etcetera_airflow.lineage.sanitize_uri",
                "to_openlineage_converter": "etcetera_airflow.lineage.convert_asset_to_openlineage",
                "factory": "etcetera_airflow.lineage.create_asset",
            }
        ],
        "connection-types": [
            {
                "connection-type": "etcetera",
                "hook-class-name": "etcetera_airflow.hooks.etc.EtcHook",
                "hook-name": "etcetera",
                "conn-fields": CONN_FIELDS,
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
            }
        ],
    }
