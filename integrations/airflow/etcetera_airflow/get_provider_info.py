"""Provider metadata, found by Airflow through the `apache_airflow_provider` entry point."""

from __future__ import annotations

from typing import Any

#: Extra fields of the connection form (Airflow 3.2+ reads them from here, stored in `extra`).
CONN_FIELDS: dict[str, dict[str, Any]] = {
    "url": {
        "label": "Remote URL",
        "schema": {"type": ["string", "null"]},
        "description": "file:///path, s3://bucket[/prefix] or gs://bucket[/prefix]",
    },
    "endpoint_url": {
        "label": "S3 endpoint URL",
        "schema": {"type": ["string", "null"]},
        "description": "Only for S3-compatible stores (MinIO, Ceph, R2...)",
    },
    "region_name": {"label": "AWS region", "schema": {"type": ["string", "null"]}},
    "public": {
        "label": "Public remote (anonymous read)",
        "schema": {"type": ["boolean", "null"], "default": False},
    },
    "google_application_credentials": {
        "label": "GCS service-account JSON (or a path to it)",
        "schema": {"type": ["string", "null"], "format": "password"},
    },
    "project": {"label": "GCP project", "schema": {"type": ["string", "null"]}},
    "home": {
        "label": "Local dataset folder",
        "schema": {"type": ["string", "null"]},
        "description": "Where pulled datasets live on the worker (default ~/.etc)",
    },
}

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["host", "schema", "port"],
    "relabeling": {"login": "AWS access key id", "password": "AWS secret access key"},
    "placeholders": {
        "url": "s3://my-bucket",
        "endpoint_url": "https://s3.example.com",
        "region_name": "us-east-1",
        "home": "~/.etc",
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
