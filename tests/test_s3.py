"""S3 specifics against moto in server mode: one PUT per object, streaming reads, the client's
settings, SigV4 signatures (botocore's own signer as the reference, and a server that checks them),
no SDK imported for a command, and secrets kept out of messages, CLI output and debug logs.
boto3 appears here only as an independent observer of what the server stored."""

from __future__ import annotations

import logging
import os
import uuid

import pytest

import etcetera as etc
from etcetera.cli.main import main as etc_main
from etcetera.storage import BytesSource, FileRangesSource, open_storage
from etcetera.storage import s3 as s3mod
from etcetera.testing import TEST_KEY_ID, TEST_SECRET, moto_server_process

SESSION_TOKEN = "etc-test-session-token-DO-NOT-LEAK-41c2"


def _observer(s3_remote):
    """A boto3 client of the test server, to look at what etcetera stored."""
    import boto3

    return boto3.client("s3", endpoint_url=s3_remote.options["endpoint_url"], region_name="us-east-1",
                        aws_access_key_id=TEST_KEY_ID, aws_secret_access_key=TEST_SECRET)


def test_objects_are_one_put_each(s3_remote, tmp_path):
    storage = open_storage(s3_remote.config())
    observer = _observer(s3_remote)
    big = tmp_path / "big.bin"
    data = os.urandom(12 * 1024 * 1024 + 77)
    big.write_bytes(b"xx" + data)
    storage.put("objects/big", FileRangesSource([(big, 2, len(data))]))
    head = observer.head_object(Bucket=storage.bucket, Key="objects/big")
    assert head["ContentLength"] == len(data) and "-" not in head["ETag"]  # not a multipart upload
    assert storage.get("objects/big") == data
    assert observer.list_multipart_uploads(Bucket=storage.bucket).get("Uploads", []) == []


def test_reads_stream_in_bounded_blocks(s3_remote):
    storage = open_storage(s3_remote.config())
    data = os.urandom(3 * s3mod.BLOCK + 5)
    storage.put("objects/s", BytesSource(data))
    blocks = list(storage.read("objects/s"))
    assert len(blocks) >= 4 and all(len(b) <= s3mod.BLOCK for b in blocks)
    assert b"".join(blocks) == data
    part = list(storage.read("objects/s", s3mod.BLOCK - 10, s3mod.BLOCK + 20))
    assert b"".join(part) == data[s3mod.BLOCK - 10: 2 * s3mod.BLOCK + 10]


def test_client_settings_follow_the_config(s3_remote):
    storage = open_storage(s3_remote.config(workers=5))
    assert storage.pool.size == 5  # kept-alive connections: one per worker
    assert storage.timeouts == (10 / 3, 10)  # within the default 10 s budget
    assert open_storage(s3_remote.config(give_up_seconds=3)).timeouts == (1, 3)
    assert storage.endpoint_url == s3_remote.options["endpoint_url"] and storage.region == "us-east-1"
    assert storage.signer is not None and not storage.unsigned
    assert TEST_SECRET not in repr(storage) + repr(storage.signer.credentials)


def test_commands_import_no_aws_sdk(s3_remote, make_dataset, tmp_path):
    """A push, a pull and a listing with keys in the config never import botocore or boto3 (their import
    and S3 model cost every command about 0.6 s of start-up)."""
    import subprocess
    import sys

    cfg = s3_remote.config()
    src = make_dataset("light")
    script = (
        "import sys, etcetera as etc\n"
        f"cfg = etc.Config({cfg.url!r}, home={str(tmp_path / 'h2')!r}, endpoint_url={cfg.endpoint_url!r}, "
        f"region_name='us-east-1', aws_access_key_id={TEST_KEY_ID!r}, aws_secret_access_key={TEST_SECRET!r})\n"
        f"etc.push('light', source={str(src)!r}, config=cfg)\n"
        "assert etc.ls(remote=True, config=cfg) == ['light']\n"
        "assert etc.pull('light', config=cfg).keys()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('botocore', 'boto3', 'urllib3')))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_signatures_match_botocores_signer():
    """SigV4 as AWS computes it: botocore's signer is the reference, for a path with characters that
    need encoding, a query, a session token and a signed payload hash."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials as BotoCredentials

    from etcetera.storage.sigv4 import CredentialSource, Credentials, Signer

    payload = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    for path, query, token in [("/bucket/objects/ab%20c~d/e%2Bf", {}, None),
                               ("/", {"list-type": "2", "prefix": "datasets/a b", "max-keys": "1000"}, "tok/en+=")]:
        url = "https://s3.eu-west-1.amazonaws.com" + path
        if query:
            from urllib.parse import urlencode, quote

            url += "?" + urlencode(query, quote_via=quote)
        request = AWSRequest(method="GET", url=url, headers={"x-amz-acl": "public-read",
                                                             "X-Amz-Content-SHA256": payload})
        S3SigV4Auth(BotoCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG", token), "s3", "eu-west-1").add_auth(request)
        stamp = request.headers["X-Amz-Date"]
        when = __import__("calendar").timegm(__import__("time").strptime(stamp, "%Y%m%dT%H%M%SZ"))
        ours = Signer(CredentialSource(Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG", token)), "eu-west-1").sign(
            "GET", "s3.eu-west-1.amazonaws.com", path, query, {"x-amz-acl": "public-read"}, payload, now=when)
        assert ours["Authorization"] == request.headers["Authorization"], path


def test_prefix_keeps_every_key_under_it(s3_remote, make_dataset):
    cfg = s3_remote.config().replace(url=s3_remote.url + "/some/prefix/")
    etc.register(make_dataset("p"), config=cfg)
    etc.push("p", config=cfg)
    root = open_storage(s3_remote.config())
    keys = [i.key for i in root.list()]
    assert keys and all(k.startswith("some/prefix/") for k in keys)
    assert etc.ls(remote=True, config=cfg) == ["p"]


def test_public_reader_signs_when_boto3s_chain_has_credentials(s3_remote, monkeypatch):
    reader = etc.Config(s3_remote.url, public=True, endpoint_url=s3_remote.options["endpoint_url"],
                        region_name="us-east-1")
    assert open_storage(reader).unsigned  # nothing anywhere: anonymous
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", TEST_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", TEST_SECRET)
    storage = open_storage(reader)
    assert not storage.unsigned  # the environment's keys are used (and needed to push)
    storage.put("objects/env", BytesSource(b"signed with the environment's keys"))
    assert storage.get("objects/env") == b"signed with the environment's keys"
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    with pytest.raises(etc.ConfigError, match="AWS_PROFILE"):
        open_storage(etc.Config(s3_remote.url, endpoint_url=s3_remote.options["endpoint_url"]))


def test_incomplete_credentials_are_a_config_error(s3_remote):
    with pytest.raises(etc.ConfigError, match="aws_secret_access_key is missing"):
        open_storage(etc.Config(s3_remote.url, aws_access_key_id=TEST_KEY_ID))
    with pytest.raises(etc.ConfigError, match="invalid S3 url"):
        open_storage(etc.Config("s3://"))


def test_no_credentials_anywhere_is_one_clear_line(s3_remote):
    cfg = etc.Config(s3_remote.url, endpoint_url=s3_remote.options["endpoint_url"], region_name="us-east-1",
                     home=str(s3_remote.tmp / "h"))
    with pytest.raises(etc.RemoteError) as info:
        etc.ls(remote=True, config=cfg)
    msg = str(info.value)
    assert "\n" not in msg and s3_remote.url in msg
    assert "no AWS credentials found" in msg and "public = true" in msg


def test_debug_logs_never_show_a_secret(s3_remote, caplog, make_dataset):
    caplog.set_level(logging.DEBUG)
    for name in ("botocore", "boto3", "urllib3", "s3transfer", "etcetera"):
        caplog.set_level(logging.DEBUG, logger=name)
    cfg = s3_remote.config(aws_session_token=SESSION_TOKEN)
    etc.register(make_dataset("dbg"), config=cfg)
    etc.push("dbg", config=cfg)
    etc.pull("dbg", config=s3_remote.config("b", aws_session_token=SESSION_TOKEN))
    storage = open_storage(cfg)
    assert storage.put_if_absent("datasets/dbg/0000000001.json.gz", b"late") is False
    with pytest.raises(etc.RemoteError):
        etc.ls(remote=True, config=cfg.replace(url="s3://etc-no-such-bucket-dbg"))
    text = "\n".join(r.getMessage() for r in caplog.records) + caplog.text
    assert "s3 PUT" in text and "s3 GET" in text  # the requests' debug lines were really captured
    assert TEST_SECRET not in text and "Signature=" not in text
    assert SESSION_TOKEN not in text


def test_cli_output_never_shows_a_secret(s3_remote, make_dataset, capsys):
    toml = s3_remote.toml("cli", aws_session_token=SESSION_TOKEN)
    src = make_dataset("clids")
    assert etc_main(["-v", "--config", str(toml), "register", str(src)]) == 0
    assert etc_main(["-v", "--config", str(toml), "push", "clids"]) == 0
    assert etc_main(["-v", "--config", str(toml), "list", "-r"]) == 0
    bad = s3_remote.toml("bad").read_text().replace(s3_remote.url, "s3://etc-no-such-bucket-cli")
    bad_path = s3_remote.tmp / "bad.toml"
    bad_path.write_text(bad)
    assert etc_main(["-v", "--config", str(bad_path), "list", "-r"]) == 1
    out, err = capsys.readouterr()
    assert "clids" in out
    error_lines = [line for line in err.splitlines() if line.startswith("etc: error:")]
    assert len(error_lines) == 1 and "create it or fix url" in error_lines[0], err
    assert TEST_SECRET not in out + err and SESSION_TOKEN not in out + err


# ---------------------------------------------------------------- a moto server that checks signatures


def _auth_moto():
    """A separate moto server process that enforces IAM auth after its first 5 (setup) requests."""
    return moto_server_process({"INITIAL_NO_AUTH_ACTION_COUNT": "5"})


def test_credential_errors_from_a_server_that_checks_them(tmp_path):
    import boto3

    with _auth_moto() as endpoint:
        iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                           aws_access_key_id=TEST_KEY_ID, aws_secret_access_key=TEST_SECRET)
        iam.create_user(UserName="writer")
        key = iam.create_access_key(UserName="writer")["AccessKey"]
        iam.put_user_policy(UserName="writer", PolicyName="s3", PolicyDocument=(
            '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}'))
        iam.create_user(UserName="nobody")
        weak = iam.create_access_key(UserName="nobody")["AccessKey"]
        bucket = f"etc-auth-{uuid.uuid4().hex[:8]}"
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=key["AccessKeyId"],
                     aws_secret_access_key=key["SecretAccessKey"]).create_bucket(Bucket=bucket)

        def config(key_id: str, secret: str) -> etc.Config:
            return etc.Config(f"s3://{bucket}", home=str(tmp_path / "h"), endpoint_url=endpoint,
                              region_name="us-east-1", aws_access_key_id=key_id, aws_secret_access_key=secret)

        good = config(key["AccessKeyId"], key["SecretAccessKey"])
        assert etc.ls(remote=True, config=good) == []  # the right credentials work

        cases = {
            "wrong secret": config(key["AccessKeyId"], "wrong-secret-DO-NOT-LEAK-0000000000"),
            "unknown key": config("AKIAUNKNOWNKEY000000", "some-secret-DO-NOT-LEAK-1111111111"),
            "no permission": config(weak["AccessKeyId"], weak["SecretAccessKey"]),
        }
        for what, cfg in cases.items():
            with pytest.raises(etc.RemoteError) as info:
                etc.ls(remote=True, config=cfg)
            msg = str(info.value)
            assert "\n" not in msg and f"s3://{bucket}" in msg, (what, msg)
            assert "check credentials" in msg, (what, msg)
            assert cfg.aws_secret_access_key not in msg and key["SecretAccessKey"] not in msg, (what, msg)


def test_every_object_is_sent_with_its_sha256(s3_remote, make_dataset):
    """Every object is uploaded with its bytes' sha256 as `ChecksumSHA256` (and as the signed payload
    hash), so S3 verifies it end to end: chunks, large files and shards, whose id is that hash, and
    packs, whose hash is computed first (moto keeps the value it was sent, which is what this reads)."""
    import base64
    import hashlib

    big = os.urandom(17 << 20)  # two chunks
    large = os.urandom(9 << 20)  # one object of its own
    cfg = s3_remote.config()
    etc.register(make_dataset("sums", {"train/big.bin": big, "train/large.bin": large, "train/a.txt": b"a\n"}),
                 config=cfg)
    etc.push("sums", config=cfg)
    storage = open_storage(cfg)
    observer = _observer(s3_remote)
    ids = {hashlib.sha256(big[:16 << 20]).hexdigest(), hashlib.sha256(big[16 << 20:]).hexdigest(),
           hashlib.sha256(large).hexdigest()}
    seen = {}
    for info in storage.list("objects/"):
        head = observer.head_object(Bucket=storage.bucket, Key=info.key, ChecksumMode="ENABLED")
        seen[info.key[len("objects/"):]] = head.get("ChecksumSHA256")
    assert ids <= set(seen) and len(seen) > len(ids)  # ... and the pack holding a.txt
    for oid, checksum in seen.items():
        body = storage.get(f"objects/{oid}")
        assert checksum == base64.b64encode(hashlib.sha256(body).digest()).decode(), oid


def test_a_body_is_read_once_unless_it_is_large_and_its_sha256_unknown(s3_remote):
    """A chunk's id is its sha256: it is signed and sent without reading the body an extra time; a
    small pack is read once into memory; a large body without a known sha256 is hashed first (one
    more read), so memory holds a block of it, not all of it."""
    import hashlib

    from etcetera.storage import BytesSource

    class Counting(BytesSource):
        read_bytes = 0

        def reader(self, start=0, length=None):
            inner = super().reader(start, length)
            source = self

            class R:
                def read(self, n=-1):
                    data = inner.read(n)
                    source.read_bytes += len(data)
                    return data

                def __enter__(self):
                    return self

                def __exit__(self, *exc):
                    inner.close()

            return R()

    storage = open_storage(s3_remote.config())
    data = os.urandom(1 << 20)
    large = os.urandom(s3mod.SMALL_BODY + 1)
    known, small = Counting(data, sha256=hashlib.sha256(data).hexdigest()), Counting(data)
    unknown = Counting(large)
    storage.put("objects/with", known)
    storage.put("objects/small", small)
    storage.put("objects/without", unknown)
    assert (known.read_bytes, small.read_bytes, unknown.read_bytes) == (len(data), len(data), 2 * len(large))
    assert storage.get("objects/with") == data == storage.get("objects/small")
    assert storage.get("objects/without") == large


def test_create_is_one_conditional_put_that_never_replaces(s3_remote, caplog):
    """`create` (content-addressed objects) sends one PUT with If-None-Match: an existing object is
    reported, not replaced; a store that refuses conditional writes gets a check and a put instead."""
    storage = open_storage(s3_remote.config())
    caplog.set_level(logging.DEBUG, logger="etcetera.s3")
    assert storage.create("objects/c", BytesSource(b"first")) is True
    assert storage.create("objects/c", BytesSource(b"second")) is False
    assert storage.get("objects/c") == b"first"
    requests = [r.getMessage().split()[1] for r in caplog.records if r.getMessage().startswith("s3 ")]
    assert requests == ["PUT", "PUT", "GET"]


def test_a_push_of_small_files_costs_a_request_per_object(s3_remote, make_dataset, caplog):
    """Packs and shards are each created by one conditional PUT (no HEAD first), and a first push
    checks no shard after publishing (only shards that existed before it could have been removed
    by a gc meanwhile); a second push of the same files checks and creates nothing it need not."""
    cfg = s3_remote.config()
    files = {f"{part}/{i:03d}.bin": os.urandom(2048) for part in ("train", "test") for i in range(40)}
    etc.register(make_dataset("reqs", files), config=cfg)
    caplog.set_level(logging.DEBUG, logger="etcetera.s3")
    etc.push("reqs", config=cfg)
    requests = [r.getMessage().split()[1:3] for r in caplog.records if r.getMessage().startswith("s3 ")]
    objects = [m for m, key in requests if "/objects/" in key]
    assert objects and set(objects) == {"PUT"}  # a pack or a shard each, no HEAD
    stored = sum(1 for _ in open_storage(cfg).list("objects/"))
    assert len(objects) == stored


# ---------------------------------------------------------------- addressing and regions


def test_aws_buckets_are_addressed_by_virtual_host_in_their_region():
    cfg = etc.Config("s3://my-bucket/team", region_name="eu-west-1", aws_access_key_id=TEST_KEY_ID,
                     aws_secret_access_key=TEST_SECRET)
    storage = open_storage(cfg)
    assert (storage.pool.scheme, storage.pool.host, storage._path("objects/a b")) == (
        "https", "my-bucket.s3.eu-west-1.amazonaws.com", "/team/objects/a%20b")
    dotted = open_storage(cfg.replace(url="s3://my.dotted.bucket"))  # a virtual host would not match TLS
    assert (dotted.pool.host, dotted._path("k")) == ("s3.eu-west-1.amazonaws.com", "/my.dotted.bucket/k")


def test_a_bucket_in_another_region_is_followed_once(s3_remote, make_dataset):
    """S3 refuses a request signed for the wrong region and names the bucket's region in
    `x-amz-bucket-region`: the client re-signs for that region once and keeps it (here a proxy in front
    of the test server plays S3's part for a bucket in eu-west-1)."""
    import http.client
    import http.server
    import threading
    from urllib.parse import urlsplit

    upstream = urlsplit(s3_remote.options["endpoint_url"])
    regions = []

    class Regional(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _any(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            region = self.headers.get("Authorization", "").split("/")[2]
            regions.append(region)
            if region != "eu-west-1":
                error = (b"<Error><Code>AuthorizationHeaderMalformed</Code><Message>the region is wrong"
                         b"</Message></Error>")
                self.send_response(400)
                self.send_header("x-amz-bucket-region", "eu-west-1")
                self.send_header("Content-Length", str(len(error)))
                self.end_headers()
                self.wfile.write(error)
                return
            conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=30)
            conn.request(self.command, self.path, body=body or None, headers=dict(self.headers))
            resp = conn.getresponse()
            data = resp.read()
            self.send_response(resp.status)
            for name, value in resp.getheaders():
                if name.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            conn.close()

        do_GET = do_PUT = do_HEAD = do_DELETE = _any

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Regional)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        cfg = s3_remote.config(endpoint_url=f"http://127.0.0.1:{server.server_address[1]}", region_name="us-east-1")
        etc.register(make_dataset("far", {"train/a.txt": b"far away\n"}), config=cfg)
        assert etc.push("far", config=cfg) == "far@1"
        ds = etc.pull("far", config=s3_remote.config("h2", endpoint_url=cfg.endpoint_url, region_name="us-east-1"))
        assert (ds["train"] / "a.txt").read_bytes() == b"far away\n"
        # Each command's client asked once in us-east-1, then kept to eu-west-1.
        assert regions.count("us-east-1") == 2 and regions.count("eu-west-1") > 4
    finally:
        server.shutdown()
