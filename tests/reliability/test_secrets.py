"""Planted secrets (AWS key id, secret key and session token, a GCS service-account JSON, and Azure's
SAS token, account key and connection string) never
appear in stdout, stderr, logs at any level (every library's DEBUG included), exception
messages, repr(Config), or any file written to the home."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest

import etcetera as etc

from .reltools import env_for, write_dataset
from .stats import LEAKS

TAG = uuid.uuid4().hex[:10].upper()
KEY_ID = f"AKIAPLANT{TAG}X"  # 20 characters, like a real key id
SECRET = f"planted/Secret+{TAG}/wJalrXUtnFEMI/K7MDENG"
TOKEN = f"IQoJplantedSessionToken{TAG}" + "Zz" * 40
SA = {
    "type": "service_account", "project_id": "etc-planted", "private_key_id": f"pkid{TAG}deadbeef00112233",
    "private_key": f"-----BEGIN PRIVATE KEY-----\nMIIEplanted{TAG}privatekeymaterial\n-----END PRIVATE KEY-----\n",
    "client_email": "etc@etc-planted.iam.gserviceaccount.com", "client_id": "1234",
    "token_uri": "https://oauth2.googleapis.com/token",
}
NEEDLES = [KEY_ID, SECRET, TOKEN, SA["private_key_id"], f"MIIEplanted{TAG}", TAG]


def _scan(where: str, text: str | bytes) -> None:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    for needle in NEEDLES:
        if needle in text:
            LEAKS.append(f"{where}: {needle[:8]}...")
    assert not any(n in text for n in NEEDLES), f"a planted secret leaked in {where}"


def _scan_tree(root: Path, where: str) -> int:
    n = 0
    for p in root.rglob("*"):
        if p.is_file():
            _scan(f"{where}/{p.relative_to(root)}", p.read_bytes())
            n += 1
    return n


def _toml(path: Path, data: dict) -> Path:
    lines = []
    for k, v in data.items():
        if isinstance(v, bool):
            lines.append(f"{k} = {'true' if v else 'false'}")
        else:
            lines.append(f"{k} = {json.dumps(v)}")
    path.write_text("\n".join(lines) + "\n")
    return path


_DEBUG_MAIN = (
    "import logging, sys\n"
    "logging.basicConfig(level=logging.DEBUG, stream=sys.stderr,\n"
    "                    format='%(levelname)s %(name)s %(message)s')\n"
    "from etcetera.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def _run(args: list[str], toml: Path, user: Path, debug_everything: bool) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-c", _DEBUG_MAIN] if debug_everything else [sys.executable, "-m", "etcetera"]
    return subprocess.run([*cmd, "--config", str(toml), "-v", *args], env=env_for(user),
                          capture_output=True, text=True, timeout=120)


def test_repr_and_messages_of_config_hide_every_secret():
    cfg = etc.Config("s3://bucket", aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET,
                     aws_session_token=TOKEN, google_application_credentials=SA)
    for text in (repr(cfg), str(cfg), f"{cfg!r}", repr([cfg]), repr({"c": cfg}), str(cfg.to_dict())):
        _scan("repr(Config)", text)
    cfg2 = cfg.replace(google_application_credentials=json.dumps(SA))
    _scan("repr(Config) with JSON string", repr(cfg2))
    # Wrong types and bad values: the error names the key, never the value.
    for bad, key in (({"aws_secret_access_key": 12345}, "aws_secret_access_key"), ({"workers": SECRET}, "workers"),
                     ({"url": 5, "aws_access_key_id": KEY_ID}, "url")):
        with pytest.raises(etc.ConfigError, match=f"config key '{key}' must be") as raised:
            etc.Config.from_dict({"url": "s3://b", **bad}, source="test.toml")
        _scan("ConfigError", str(raised.value))
        _scan("ConfigError repr", repr(raised.value))
    cfg3 = etc.Config.from_dict({"url": "s3://b", "google_application_credentials": "{" + SECRET}, source="test.toml")
    with pytest.raises(etc.ConfigError, match="'google_application_credentials' holds invalid JSON") as raised:
        cfg3.service_account_info()  # the JSON is only parsed when a client needs it
    _scan("ConfigError", str(raised.value))
    _scan("ConfigError repr", repr(raised.value))


@pytest.mark.parametrize("debug_everything", [False, True], ids=["etc-v", "all-loggers-DEBUG"])
def test_s3_cli_never_leaks(debug_everything, s3_proxied, moto_endpoint, tmp_path, user):
    from etcetera.testing import free_port

    remote, proxy = s3_proxied(rate=0.15, seed=5, kinds=("503", "drop", "truncate"))  # error paths too
    home = tmp_path / "home"
    toml = _toml(tmp_path / "planted.toml", {
        "url": remote.url, "home": str(home), "endpoint_url": proxy.url, "region_name": "us-east-1",
        "aws_access_key_id": KEY_ID, "aws_secret_access_key": SECRET, "aws_session_token": TOKEN,
        "google_application_credentials": json.dumps(SA), "workers": 4})
    src = write_dataset(tmp_path / "src" / "sec", seed=61, small=6)
    runs = [["register", str(src)], ["push", "sec"], ["pull", "-f", "sec"], ["pull", "ghost"]]
    if debug_everything:
        runs += [["list", "-r"], ["versions", "sec"], ["info", "-r", "sec"], ["pull", "sec@9"], ["gc", "-n"]]
    outputs = []
    for args in runs:
        proc = _run(args, toml, user, debug_everything)
        outputs.append(proc)
        _scan(f"stdout of etc {' '.join(args)}", proc.stdout)
        _scan(f"stderr of etc {' '.join(args)}", proc.stderr)
    assert outputs[1].returncode == 0, outputs[1].stderr
    if debug_everything:  # the scan saw real debug output of every S3 request
        assert "s3 PUT" in outputs[1].stderr and "s3 GET" in outputs[2].stderr
    # Failures: an unreachable endpoint and a persistently failing server (a short budget: its
    # retries are logged all the same, without waiting out the default 10 s).
    bad = _toml(tmp_path / "bad.toml", {**{k: v for k, v in _read(toml).items()},
                                         "endpoint_url": f"http://127.0.0.1:{free_port()}", "give_up_seconds": 2})
    for args in (["pull", "sec"],) if debug_everything else ():
        proc = _run(args, bad, user, debug_everything)
        assert proc.returncode != 0
        _scan("stderr (unreachable)", proc.stderr + proc.stdout)
    assert _scan_tree(home, "home") > 0
    _scan_tree(user, "$HOME")


def _read(toml: Path) -> dict:
    import tomllib

    return tomllib.loads(toml.read_text())


def test_s3_api_exceptions_and_logs_never_leak(s3_proxied, tmp_path, caplog):
    """In-process: every log record (all loggers, DEBUG) and every exception message and repr."""
    from etcetera.testing import free_port

    remote, proxy = s3_proxied(rate=0.1, seed=9, kinds=("500", "drop"))
    cfg = etc.Config(remote.url, home=str(tmp_path / "h"), endpoint_url=proxy.url, region_name="us-east-1",
                     aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET, aws_session_token=TOKEN,
                     google_application_credentials=SA, workers=4)
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="etcetera")  # restored after the test, unlike setLevel()
    etc.register(write_dataset(tmp_path / "src" / "api", seed=62, small=6), config=cfg)
    assert etc.push("api", config=cfg) == "api@1"
    etc.pull("api", config=cfg.replace(home=str(tmp_path / "h2")))
    failing = [
        (lambda: etc.pull("ghost", config=cfg), etc.NotFoundError, "dataset ghost is not on s3://"),
        (lambda: etc.pull("api@5", config=cfg), etc.NotFoundError, "api@5 does not exist on s3://"),
        (lambda: etc.versions("api", config=cfg.replace(endpoint_url=f"http://127.0.0.1:{free_port()}",
                                                        give_up_seconds=2)),
         etc.RemoteError, "cannot connect to http://127.0.0.1:"),
        (lambda: etc.push("api", config=cfg.replace(url=remote.url + "-nobucket")),
         etc.RemoteError, "-nobucket does not exist"),
    ]
    for call, error, message in failing:
        with pytest.raises(error, match=message) as raised:
            call()
        exc = raised.value
        _scan("exception", f"{exc} {exc!r} {exc.args} {exc.__cause__!r} {exc.__context__!r}")
    records = caplog.records
    assert any(r.name == "etcetera.s3" for r in records), "the S3 requests' debug logging was not captured"
    for record in records:
        text = record.getMessage() + (record.exc_text or "")
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        _scan(f"log record {record.name}", text)
    _scan_tree(tmp_path / "h", "home")
    _scan_tree(tmp_path / "h2", "home2")


def test_file_remote_with_planted_secrets_never_leaks(file_remote, tmp_path, user):
    """Secrets in the config of a file:// remote are not used, and never shown either."""
    home = tmp_path / "home"
    toml = _toml(tmp_path / "f.toml", {"url": file_remote.url, "home": str(home), "aws_access_key_id": KEY_ID,
                                        "aws_secret_access_key": SECRET, "google_application_credentials": json.dumps(SA)})
    src = write_dataset(tmp_path / "src" / "fs", seed=63, small=3)
    codes = {}
    for args in (["register", str(src)], ["push", "fs"], ["pull", "ghost"], ["info", "-r", "fs"], ["gc", "-n"]):
        proc = _run(args, toml, user, True)
        _scan("file:// output", proc.stdout + proc.stderr)
        codes[args[0]] = proc.returncode
    assert codes == {"register": 0, "push": 0, "pull": 1, "info": 0, "gc": 0}  # the scans saw real output
    assert _scan_tree(home, "home") > 0
    assert _scan_tree(Path(file_remote.url[7:]), "remote") > 0


@pytest.mark.parametrize("inline", [True, False], ids=["json-in-config", "json-file"])
def test_gcs_service_account_never_leaks(inline, tmp_path, user, monkeypatch):
    pytest.importorskip("google.cloud.storage")
    pytest.importorskip("cryptography")
    from etcetera.testing import gcs_emulator, gcs_token_service, make_gcs_bucket, private_key_lines, service_account_info

    for name in ("GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    # The token endpoint refuses every grant and echoes the request back into its error.
    with gcs_token_service(refuse=True) as token, gcs_emulator() as emulator:
        # A genuine RSA key (so the client really signs with it) under the planted key id.
        sa = {**SA, "private_key": service_account_info(token.url)["private_key"], "token_uri": token.url}
        # Whole 64-character lines of the key (a short last line could match any base64 by chance).
        needles = private_key_lines(sa)
        sa_file = tmp_path / "sa.json"
        sa_file.write_text(json.dumps(sa))
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", emulator)
        bucket = make_gcs_bucket(emulator)
        home = tmp_path / "home"
        toml = _toml(tmp_path / "gcs.toml", {
            "url": f"gs://{bucket}", "home": str(home), "project": "etc-planted",
            "google_application_credentials": json.dumps(sa) if inline else str(sa_file)})
        src = write_dataset(tmp_path / "src" / "gsec", seed=64, small=3)
        started = time.monotonic()
        outputs = [_run(args, toml, user, True) for args in (["register", str(src)], ["push", "gsec"], ["list", "-r"])]
        took = time.monotonic() - started
    for proc in outputs:
        text = proc.stdout + proc.stderr
        for needle in needles:
            if needle in text:
                LEAKS.append(f"gcs output: {needle[:8]}...")
        assert not any(n in text for n in needles), "the service-account key leaked"
        _scan("gcs output", text)
    assert outputs[1].returncode != 0 and outputs[2].returncode != 0  # the grant is refused: error paths
    assert "DEBUG" in outputs[1].stderr
    errors = [line for line in outputs[1].stderr.splitlines() if line.startswith("etc: error: ")]
    assert len(errors) == 1 and f"gs://{bucket}" in errors[0], outputs[1].stderr[-2000:]
    assert took < 30, f"a refused token took {took:.0f}s to report"
    for p in home.rglob("*"):
        if p.is_file():
            assert not any(n in p.read_text("utf-8", "replace") for n in needles)


def _azure_sas(container: str) -> str:
    from datetime import datetime, timedelta, timezone

    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    from etcetera.testing import AZURITE_ACCOUNT, AZURITE_KEY

    return generate_container_sas(AZURITE_ACCOUNT, container, account_key=AZURITE_KEY,
                                  permission=ContainerSasPermissions(read=True, write=True, list=True, delete=True,
                                                                     create=True, add=True),
                                  expiry=datetime.now(timezone.utc) + timedelta(hours=1))


@pytest.mark.parametrize("credential", ["azure_sas_token", "azure_account_key", "azure_connection_string"])
def test_az_cli_never_leaks(credential, az_proxied, tmp_path, user):
    """Every logger at DEBUG (azure-core's HTTP logging policy and urllib3's request lines, with
    their URLs and query strings, included), through faults: no SAS token, signature, account key
    or connection string in any output or file.  Real credentials: Azurite checks them."""
    from urllib.parse import quote, unquote

    from etcetera.testing import AZURITE_KEY, azurite_connection_string

    remote, proxy = az_proxied(rate=0.15, seed=7, kinds=("503", "drop", "truncate"))
    account_url = remote.options["azure_account_url"]
    container = remote.url.split("://")[1]
    sas = _azure_sas(container)
    sig = unquote(next(p[4:] for p in sas.split("&") if p.startswith("sig=")))
    value = {"azure_sas_token": sas, "azure_account_key": AZURITE_KEY,
             "azure_connection_string": azurite_connection_string(account_url)}[credential]
    keys = {"azure_account_url": account_url} if credential != "azure_connection_string" else {}
    home = tmp_path / "home"
    toml = _toml(tmp_path / "az.toml", {"url": remote.url, "home": str(home), **keys, credential: value, "workers": 4})
    needles = [value, AZURITE_KEY, sig, quote(sig, safe="")] if credential == "azure_sas_token" else [value, AZURITE_KEY]
    NEEDLES.extend(needles)
    try:
        src = write_dataset(tmp_path / "src" / "azsec", seed=63, small=6)
        runs = [["register", str(src)], ["push", "azsec"], ["pull", "-f", "azsec"], ["pull", "ghost"],
                ["list", "-r"], ["versions", "azsec"], ["info", "-r", "azsec"], ["gc", "-n"]]
        outputs = []
        for args in runs:
            proc = _run(args, toml, user, True)
            outputs.append(proc)
            _scan(f"stdout of etc {' '.join(args)}", proc.stdout)
            _scan(f"stderr of etc {' '.join(args)}", proc.stderr)
        assert outputs[1].returncode == 0, outputs[1].stderr
        # the scan saw the SDK's HTTP log (headers) and urllib3's request lines (query strings)
        assert "Request headers" in outputs[1].stderr and "urllib3.connectionpool" in outputs[1].stderr
        bad = _toml(tmp_path / "bad.toml", {**_read(toml), "url": remote.url + "-nocontainer"})
        proc = _run(["list", "-r"], bad, user, True)
        assert proc.returncode != 0 and "etc: error: cannot list " + remote.url + "-nocontainer" in proc.stderr
        _scan("stderr (missing container)", proc.stderr + proc.stdout)
        assert _scan_tree(home, "home") > 0
        _scan_tree(user, "$HOME")
    finally:
        del NEEDLES[-len(needles):]
