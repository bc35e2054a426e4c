"""EtcHook: an Airflow connection of type `etcetera` as an `etcetera.Config`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO, Any

import etcetera as etc
from airflow.sdk import BaseHook

from etcetera_airflow.connection import CONN_TYPE, config_from_connection, secret_values


def _mask(config: etc.Config) -> None:
    """Tell Airflow's log masker about every secret in `config` (every key `config_keys()` marks
    secret: the extra's key names do not always say 'secret', e.g. google_application_credentials)."""
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - older Airflow
        from airflow.utils.log.secrets_masker import mask_secret  # type: ignore[no-redef]
    for value in secret_values(config):
        mask_secret(value)


class EtcHook(BaseHook):
    """Reach an etcetera remote with the settings of an Airflow connection.

    `login` = AWS access key id, `password` = AWS secret access key, `extra` = every other
    `etcetera.Config` key as JSON, e.g. {"url": "s3://bucket", "endpoint_url": "http://...",
    "region_name": "eu-west-1", "give_up_seconds": 30} or
    {"url": "gs://bucket", "google_application_credentials": {...}}.
    `~/.etc.toml` is never read.
    """

    conn_name_attr = "etc_conn_id"
    default_conn_name = "etc_default"
    conn_type = CONN_TYPE
    hook_name = "etcetera"

    def __init__(self, etc_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.etc_conn_id = etc_conn_id
        self._config: etc.Config | None = None

    def get_config(self) -> etc.Config:
        """The Config built from the connection (cached on the hook)."""
        if self._config is None:
            config = config_from_connection(self.get_connection(self.etc_conn_id))
            _mask(config)
            self._config = config
        return self._config

    def get_conn(self) -> etc.Config:
        """Same as get_config(): etcetera has no client object, its calls take a Config."""
        return self.get_config()

    def repository(self, home: str | None = None) -> etc.Repository:
        """An `etcetera.Repository` on the connection's remote (use it as a context manager);
        `home` replaces the connection's home, e.g. a scratch folder per run."""
        config = self.get_config()
        return etc.Repository(config.replace(home=str(home)) if home else config)

    def push(self, name: str, source: str | None = None, force: bool = False) -> etc.PushReport:
        """Publish the local dataset `name` as a new version (an unchanged one is up to date at
        its version); with `source`, publish that folder as `name` straight from where it is
        (nothing is copied into the home, the folder is only read)."""
        with self.repository() as repo:
            if source:
                self.log.info("publishing %s as %s", source, name)
            report = repo.push_report(name, force=force, quiet=True, source=str(source) if source else None)
        self.log.info("pushed %s to %s", report.ref, repo.config.url)
        return report

    def pull(self, ref: str, partitions: Sequence[str] | None = None, force: bool = False,
             home: str | None = None) -> etc.Dataset:
        """Bring `name[@version]` (latest by default) into the home, or into `home`; only
        `partitions` when given."""
        with self.repository(home) as repo:
            ds = repo.pull(ref, partitions=list(partitions) if partitions else None, force=force, quiet=True)
        self.log.info("pulled %s@%s into %s", ds.name, ds.version, ds.path)
        return ds

    def versions(self, name: str) -> list[int]:
        """The remote's versions of `name`, newest first (empty when it was never pushed)."""
        with self.repository() as repo:
            return repo.versions(name)

    def dataset(self, ref: str, auto_pull: bool = True) -> etc.Dataset:
        """The local copy of `name[@version]` in the connection's home, pulled when missing."""
        with self.repository() as repo:
            return repo.dataset(ref, auto_pull=auto_pull)

    def open(self, ref: str, path: str, mode: str = "rb", **options: Any) -> IO:
        """A file of a published version, streamed from the remote without pulling (verified as
        it is read): `hook.open("birds@3", "data/train/x.csv", "r")`."""
        return etc.open(ref, path, mode, config=self.get_config(), **options)

    def test_connection(self) -> tuple[bool, str]:
        """List the remote: proves the url and credentials work (used by the UI's Test button)."""
        try:
            config = self.get_config()
            names = etc.ls(remote=True, config=config)
        except etc.EtcError as exc:  # one-line messages without secrets
            return False, str(exc)
        except Exception as exc:  # noqa: BLE001 - the UI wants a message, not a traceback
            return False, f"{type(exc).__name__} while listing the remote"
        return True, f"{config.url}: {len(names)} dataset(s)"

    def __repr__(self) -> str:
        return f"EtcHook(etc_conn_id={self.etc_conn_id!r})"

    # Airflow 3.1 reads the form from these (with flask-appbuilder installed);
    # 3.2+ reads `conn-fields` / `ui-field-behaviour` from get_provider_info and never calls them.
    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra fields of the connection form (stored in the extra JSON)."""
        from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import BooleanField, PasswordField, StringField

        from etcetera_airflow.get_provider_info import CONN_FIELDS

        widgets: dict[str, Any] = {}
        for key, spec in CONN_FIELDS.items():
            label, help_text = lazy_gettext(spec["label"]), spec["description"]
            if "boolean" in spec["schema"]["type"]:
                widgets[key] = BooleanField(label, description=help_text, default=False)
            elif spec["schema"].get("format") == "password":
                widgets[key] = PasswordField(label, description=help_text, widget=BS3PasswordFieldWidget())
            else:
                widgets[key] = StringField(label, description=help_text, widget=BS3TextFieldWidget())
        return widgets

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Hide the fields etcetera does not use and relabel login/password."""
        from etcetera_airflow.get_provider_info import UI_FIELD_BEHAVIOUR

        return {
            "hidden_fields": UI_FIELD_BEHAVIOUR["hidden-fields"],
            "relabeling": UI_FIELD_BEHAVIOUR["relabeling"],
            "placeholders": UI_FIELD_BEHAVIOUR["placeholders"],
        }
