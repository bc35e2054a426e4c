"""EtcDatasetSensor: wait until a dataset (or one version of it) is published on the remote."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import etcetera as etc
from airflow.sdk import BaseSensorOperator, Context, PokeReturnValue

try:
    from airflow.sdk.configuration import conf
except ImportError:  # pragma: no cover - Airflow 3.1
    from airflow.configuration import conf  # type: ignore[no-redef]

from etcetera_airflow.hooks.etc import EtcHook
from etcetera.names import parse_ref_or_tag
from etcetera_airflow.triggers.etc import EtcDatasetTrigger, look_up


class EtcDatasetSensor(BaseSensorOperator):
    """Succeed once `name` (any version, or `version`) is on the remote; the XCom is "name@version".

    `name` is templated and may be "name@version" itself, e.g. an EtcPushOperator's output, or
    "name@TAG", which waits until the tag exists and returns the version it points at.

    With `deferrable=True` the wait happens in the triggerer and frees the worker slot; the
    default is `[operators] default_deferrable`, as for Airflow's own sensors.
    `name`, `version` and `etc_conn_id` are templated.
    """

    template_fields: Sequence[str] = ("name", "version", "etc_conn_id")

    def __init__(
        self,
        *,
        name: str,
        version: int | None = None,
        etc_conn_id: str = EtcHook.default_conn_name,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.name = name
        self.version = version
        self.etc_conn_id = etc_conn_id
        self.deferrable = deferrable

    def _wanted(self) -> tuple[str, int | None, str | None]:
        """(name, version, tag): `name` may be "name@version" (e.g. an EtcPushOperator's XCom) or "name@TAG"."""
        ref = parse_ref_or_tag(str(self.name))
        if self.version not in (None, "", "None"):
            return ref.name, int(self.version), None
        return ref.name, ref.version, ref.tag

    def poke(self, context: Context) -> PokeReturnValue:
        name, version, tag = self._wanted()
        hook = EtcHook(etc_conn_id=self.etc_conn_id)
        with hook.repository() as repo:
            found = look_up(repo, name, version, tag)
        if found is None:
            at = version if version is not None else tag
            self.log.info("waiting for %s on %s", name if at is None else f"{name}@{at}", hook.get_config().url)
            return PokeReturnValue(is_done=False)
        return PokeReturnValue(is_done=True, xcom_value=f"{name}@{found}")

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        first = self.poke(context)
        if first.is_done:
            return first.xcom_value
        name, version, tag = self._wanted()
        self.defer(
            trigger=EtcDatasetTrigger(name, version, str(self.etc_conn_id), float(self.poke_interval), tag=tag),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> str:
        """Resume after the trigger fired: return "name@version" or fail with the remote's message."""
        if not event or event.get("status") != "found":
            message = (event or {}).get("message", "no event")
            raise etc.RemoteError(f"waiting for {self._wanted()[0]} failed: {message}")
        return str(event["ref"])
