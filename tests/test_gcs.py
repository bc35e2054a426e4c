"""GCS specifics against fake-gcs-server (STORAGE_EMULATOR_HOST): bounded ranged
reads, the HTTP pool, service-account credentials (inline JSON or a file) and their errors,
anonymous clients, and secrets kept out of messages and debug logs."""

from __future__ import annotations

import json
import logging
import os
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Iterator

import pytest

import etcetera as etc
from etcetera.storage import BytesSource, open_storage
from etcetera.storage import gcs as gcsmod


def test_reads_are_ranged_requests_of_bounded_size(gs_remote, monkeypatch):
    monkeypatch.setattr(gcsmod, "BLOCK", 1000)
    storage = open_storage(gs_remote.config())
    data = os.urandom(5500)
    storage.put("objects/r", BytesSource(data))
    whole = list(storage.read("objects/r"))
    assert [len(b) for b in whole] == [1000] * 5 + [500]
    assert b"".join(whole) == data
    part = list(storage.read("objects/r", 1500, 3000))
    assert [len(b) for b in part] == [1000, 1000, 1000] and b"".join(part) == data[1500:4500]
    assert b"".join(storage.read("objects/r", 5000)) == data[5000:]
    assert b"".join(storage.read("objects/r", 5000, 4000)) == data[5000:]  # shorter than asked: ends early
    storage.put("objects/exact", BytesSource(data[:2000]))
    assert b"".join(storage.read("objects/exact")) == data[:2000]
    assert b"".join(storage.read("objects/exact", 0, 3000)) == data[:2000]


def test_connection_pool_is_sized_to_the_workers(gs_remote):
    storage = open_storage(gs_remote.config(workers=24))
    adapter = storage.client._http.get_adapter("http://127.0.0.1/")
    assert adapter._pool_maxsize == 24 + 4


def test_prefix_keeps_every_key_under_it(gs_remote, make_dataset):
    cfg = gs_remote.config().replace(url=gs_remote.url + "/nested/prefix")
    etc.register(make_dataset("p"), config=cfg)
    etc.push("p", config=cfg)
    keys = [i.key for i in open_storage(gs_remote.config()).list()]
    assert keys and all(k.startswith("nested/prefix/") for k in keys)
    assert etc.ls(remote=True, config=cfg) == ["p"]
    assert etc.ls(remote=True, config=gs_remote.config()) == []


def test_without_credentials_public_means_anonymous_and_private_is_a_clear_error(gs_remote, monkeypatch):
    # Outside the emulator, with no service account and no Application Default Credentials
    # (the fixture removed them and disabled the metadata-server probe).  Building the client
    # sends no request.
    monkeypatch.delenv("STORAGE_EMULATOR_HOST")
    storage = open_storage(etc.Config("gs://some-public-bucket", public=True))
    assert storage.anonymous and storage.endpoint == "storage.googleapis.com"
    with pytest.raises(etc.RemoteError) as info:
        open_storage(etc.Config("gs://some-private-bucket"))
    msg = str(info.value)
    assert "\n" not in msg and "gs://some-private-bucket" in msg
    assert "no Google credentials found" in msg and "google_application_credentials" in msg


# ---------------------------------------------------------------- service accounts


@pytest.fixture
def refusing_token_server() -> Iterator[str]:
    """A loopback OAuth token endpoint that refuses every grant, as Google does for a revoked key."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.dumps({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}).encode()
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/token"
    finally:
        server.shutdown()
        server.server_close()


def _service_account(token_uri: str) -> dict:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return {
        "type": "service_account", "project_id": "etc-test", "private_key_id": "0123456789abcdef0123456789abcdef",
        "private_key": pem, "client_email": "etc@etc-test.iam.gserviceaccount.com", "client_id": "1",
        "token_uri": token_uri,
    }


def _pem_body(info: dict) -> str:
    return "".join(info["private_key"].strip().splitlines()[1:-1])


@pytest.mark.parametrize("form", ["inline-json", "dict", "file"])
def test_service_account_credentials_are_used_and_a_refusal_is_one_line(gs_remote, refusing_token_server,
                                                                         caplog, form):
    caplog.set_level(logging.DEBUG)
    for name in ("google", "urllib3", "requests", "etcetera"):
        caplog.set_level(logging.DEBUG, logger=name)
    info = _service_account(refusing_token_server)
    if form == "file":
        path = gs_remote.tmp / "sa.json"
        path.write_text(json.dumps(info))
        creds: object = str(path)
    else:
        creds = json.dumps(info) if form == "inline-json" else info
    cfg = gs_remote.config(google_application_credentials=creds)
    assert "PRIVATE KEY" not in repr(cfg)
    storage = open_storage(cfg)
    assert storage.client._credentials.service_account_email == info["client_email"]
    assert not storage.anonymous
    with pytest.raises(etc.RemoteError) as err:
        etc.ls(remote=True, config=cfg)
    msg = str(err.value)
    assert "\n" not in msg and gs_remote.url in msg
    assert "refused or have expired: check credentials" in msg, msg
    secrets = [_pem_body(info), info["private_key_id"]]
    logs = "\n".join(r.getMessage() for r in caplog.records) + caplog.text
    for secret in secrets:
        assert secret not in msg and secret[:40] not in logs


def test_bad_service_account_settings_are_config_errors(gs_remote):
    missing = gs_remote.tmp / "nope.json"
    with pytest.raises(etc.ConfigError, match=f"{missing} does not exist"):
        open_storage(gs_remote.config(google_application_credentials=str(missing)))
    with pytest.raises(etc.ConfigError, match="invalid JSON"):
        open_storage(gs_remote.config(google_application_credentials='{"type": "service_account", '))
    with pytest.raises(etc.ConfigError, match="not a valid service-account key") as info:
        open_storage(gs_remote.config(google_application_credentials={"type": "service_account",
                                                                      "private_key": "not-a-key-SECRET"}))
    assert "not-a-key-SECRET" not in str(info.value)
