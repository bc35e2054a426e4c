"""EtcDatasetTrigger: the triggerer side of a deferred EtcDatasetSensor."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import etcetera as etc
from airflow.triggers.base import BaseTrigger, TriggerEvent

from etcetera_airflow.connection import config_from_connection, secret_values


def found_version(versions: list[int], version: int | None) -> int | None:
    """The version that satisfies the wait: `version` when published, else the newest, else None."""
    if version is None:
        return versions[0] if versions else None
    return version if version in versions else None


def look_up(repo: etc.Repository, name: str, version: int | None, tag: str | None = None) -> int | None:
    """One poll: the version that satisfies the wait for `name` (at `version`, or where `tag`
    points once it exists; `latest` is any version), else None."""
    if tag is not None and tag != "latest":
        return repo.tags(name).get(tag)
    return found_version(repo.versions(name), version)


class EtcDatasetTrigger(BaseTrigger):
    """Poll the remote of connection `etc_conn_id` until `name` (at `version`) is published.

    One `etcetera.Repository` (one storage client) serves every poll. A transient remote failure
    (`etcetera.TransientError`: throttling, 5xx, a dropped connection, for the whole retry
    budget) is logged and the next poll tries again; any other error ends the wait.
    """

    def __init__(self, name: str, version: int | None = None, etc_conn_id: str = "etc_default",
                 poke_interval: float = 30.0, tag: str | None = None) -> None:
        super().__init__()
        self.name = name
        self.version = version
        self.etc_conn_id = etc_conn_id
        self.poke_interval = poke_interval
        self.tag = tag

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and arguments; no secret is serialized, only the connection id."""
        return (
            "etcetera_airflow.triggers.etc.EtcDatasetTrigger",
            {"name": self.name, "version": self.version, "etc_conn_id": self.etc_conn_id,
             "poke_interval": self.poke_interval, "tag": self.tag},
        )

    async def _config(self) -> etc.Config:
        from airflow.sdk import BaseHook

        aget = getattr(BaseHook, "aget_connection", None)
        if aget is not None:
            conn = await aget(self.etc_conn_id)
        else:  # pragma: no cover - Airflow without async connection access
            conn = await asyncio.to_thread(BaseHook.get_connection, self.etc_conn_id)
        config = config_from_connection(conn)
        try:
            from airflow.sdk.log import amask_secret
        except ImportError:  # pragma: no cover
            return config
        for value in secret_values(config):
            await amask_secret(value)
        return config

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Yield one event {"status": "found", "ref": "name@version"} once it is there."""
        try:
            config = await self._config()
            with etc.Repository(config) as repo:
                while True:
                    try:
                        found = await asyncio.to_thread(look_up, repo, self.name, self.version, self.tag)
                    except etc.TransientError as exc:
                        self.log.warning("%s: %s; polling again in %ss", self._wanted(), exc, self.poke_interval)
                    else:
                        if found is not None:
                            yield TriggerEvent({"status": "found", "ref": f"{self.name}@{found}"})
                            return
                        self.log.info("%s not on the remote yet; next look in %ss", self._wanted(),
                                      self.poke_interval)
                    await asyncio.sleep(self.poke_interval)
        except etc.EtcError as exc:
            yield TriggerEvent({"status": "error", "message": str(exc)})

    def _wanted(self) -> str:
        at = self.version if self.version is not None else self.tag
        return self.name if at is None else f"{self.name}@{at}"
