"""EtcDatasetSensor: wait until a dataset (or one version of it) is published on the remote."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import etcetera as etc
from airflow.sdk import BaseSensorOperator, Context, PokeReturnValue

from etcetera_airflow.hooks.etc import EtcHook
from etcetera_airflow.triggers.etc import EtcDatasetTrigger, found_version


class EtcDatasetSensor(BaseSensorOperator):
    """Succeed once `name` (any version, or `version`) is on the remote; the XCom is "name@version".

    `name` is templated and may be "name@version" itself, e.g. an EtcPushOperator's output.

    With `deferrable=True` the wait happens in the triggerer and frees the worker slot.
    """

    template_fields: Sequence[str] = ("name", "version")

    def __init__(
        self,
        *,
        name: str,
        version: int | None = None,
        etc_conn_id: str = EtcHook.default_conn_name,
        deferrable: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.name = name
        self.version = version
        self.etc_conn_id = etc_conn_id
        self.deferrable = deferrable

    def _wanted(self) -> tuple[str, int | None]:
        """(name, version): `name` may be "name@version" (e.g. an EtcPushOperator's XCom)."""
        name, at = etc.parse_ref(str(self.name))
        version = self.version if self.version not in (None, "", "None") else at
        return name, None if version is None else int(version)

    def poke(self, context: Context) -> PokeReturnValue:
        name, version = self._wanted()
        config = EtcHook(etc_conn_id=self.etc_conn_id).get_config()
        found = found_version(etc.versions(name, config=config), version)
        if found is None:
            self.log.info("waiting for %s on %s", name if version is None else f"{name}@{version}", config.url)
            return PokeReturnValue(is_done=False)
        return PokeReturnValue(is_done=True, xcom_value=f"{name}@{found}")

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        first = self.poke(context)
        if first.is_done:
            return first.xcom_value
        self.defer(
            trigger=EtcDatasetTrigger(*self._wanted(), self.etc_conn_id, float(self.poke_interval)),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> str:
        """Resume after the trigger fired: return "name@version" or fail with the remote's message."""
        if not event or event.get("status") != "found":
            message = (event or {}).get("message", "no event")
            raise etc.RemoteError(f"waiting for {self._wanted()[0]} failed: {message}")
        return str(event["ref"])
