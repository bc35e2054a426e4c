"""Property-based tests (hypothesis) for the input guards, beyond tests/test_model.py:
references, relative paths, home paths, manifest round trips, manifest fuzzing, config
mappings and old-archive member names."""

from __future__ import annotations

import gzip
import json
import os
import posixpath
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import etcetera as etc
from etcetera.home import Home
from etcetera.manifest import FORMAT, FileEntry, Manifest, Part, check_rel_path
from etcetera.names import MAX_NAME, NAME_RE, check_name, parse_ref

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TRICKY = string.ascii_letters[:6] + string.digits[:3] + "./\\-_ ~@\x00\x01\n\t\x7f é\u202e"
names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True)
hex64 = st.text("0123456789abcdef", min_size=64, max_size=64)


@given(st.text(TRICKY, max_size=30), st.one_of(st.none(), st.integers(-5, 10**10), st.text(TRICKY, max_size=5)))
@FAST
def test_parse_ref_accepts_only_name_at_positive_version(name, version):
    ref = name if version is None else f"{name}@{version}"
    try:
        got_name, got_version = parse_ref(ref)
    except etc.InvalidNameError as exc:
        assert "\n" not in str(exc)
        return
    assert check_name(got_name) == got_name and "@" not in got_name and "/" not in got_name
    assert got_version is None or (isinstance(got_version, int) and got_version >= 1)
    assert parse_ref(got_name if got_version is None else f"{got_name}@{got_version}") == (got_name, got_version)


@given(names, st.one_of(st.none(), st.integers(1, 999_999_999)))  # versions have at most 9 digits
@FAST
def test_parse_ref_accepts_every_name_at_positive_version(name, version):
    """The accepting side of the property above, which random text reaches only now and then."""
    assert parse_ref(name if version is None else f"{name}@{version}") == (name, version)


@given(st.text(TRICKY, max_size=60))
@FAST
def test_an_accepted_relative_path_stays_inside_any_root(path):
    try:
        rel = check_rel_path(path)
    except ValueError as exc:
        assert "\n" not in str(exc) and "\x00" not in str(exc)  # messages show paths with repr()
        return
    root = "/srv/home/ds"
    joined = posixpath.join(root, rel)
    assert posixpath.normpath(joined) == joined  # nothing to normalize: no '.', '..', '//'
    assert joined.startswith(root + "/")
    assert not any(ord(c) < 32 for c in rel) and "\\" not in rel


@given(st.text(TRICKY, max_size=MAX_NAME + 10))
@FAST
def test_home_paths_are_direct_children_of_the_home(name):
    home = Home(Path("/srv/etc-home"))
    if NAME_RE.fullmatch(name) and len(name) <= MAX_NAME:
        path = home.path(name)
        assert path.parent == home.root and path.name == name and os.path.normpath(path) == str(path)
    else:
        with pytest.raises(etc.InvalidNameError, match="dataset name"):
            home.path(name)


# ---------------------------------------------------------------- manifests

segment = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9 ._()-]{0,12}", fullmatch=True).filter(lambda s: s not in (".", ".."))


@st.composite
def manifests(draw) -> Manifest:
    paths = draw(st.lists(st.one_of(
        st.builds(lambda p, rest: "/".join(["data", p, *rest]), names, st.lists(segment, min_size=1, max_size=3)),
        st.builds(lambda rest: "/".join(rest), st.lists(segment, min_size=1, max_size=2)).filter(lambda p: p != "data" and not p.startswith("data/")),
    ), min_size=1, max_size=8, unique=True))
    # A path cannot be both a file and a folder of other files.
    paths = [p for p in paths if not any(q.startswith(p + "/") for q in paths)]
    objects: dict[str, int] = {}
    files = []
    for p in paths:
        size = draw(st.integers(0, 10**12))
        sha = draw(hex64)
        parts: tuple[Part, ...] = ()
        if size:
            obj = draw(hex64)
            offset = draw(st.integers(0, 10**6))
            objects[obj] = max(objects.get(obj, 0), offset + size)
            parts = (Part(obj, offset, size),)
        files.append(FileEntry(p, size, sha, draw(st.booleans()), parts))
    return Manifest(name=draw(names), version=draw(st.integers(1, 10**9)), files=files, objects=objects,
                    dirs=sorted({f"data/{n}" for n in draw(st.lists(names, max_size=3))}),
                    parent=draw(st.one_of(st.none(), st.integers(1, 10**9))), created="2026-01-01T00:00:00Z",
                    author=draw(st.text(max_size=20)), tool="etcetera test")


@given(manifests())
@FAST
def test_manifest_round_trip(m):
    again = Manifest.from_bytes(m.to_bytes(), "prop")
    assert again.files == m.files and again.objects == m.objects and again.dirs == m.dirs
    assert (again.name, again.version, again.parent, again.author) == (m.name, m.version, m.parent, m.author)
    assert again.to_bytes() == m.to_bytes()  # deterministic bytes (the lost-reply check compares them)


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False), st.text(TRICKY, max_size=10)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(TRICKY, max_size=8), inner, max_size=4)),
    max_leaves=12,
)
FIELDS = ["format", "name", "version", "parent", "objects", "files", "dirs", "created", "author"]


@given(manifests(), st.lists(st.tuples(st.sampled_from(FIELDS + ["files.0.path", "files.0.parts", "files.0.size",
                                                                  "files.0.sha256", "files.0.x", "objects.*"]),
                                       json_values), min_size=1, max_size=3))
@FAST
def test_mutated_manifests_parse_or_fail_with_format_error_only(m, mutations):
    doc = json.loads(gzip.decompress(m.to_bytes()))
    for where, value in mutations:
        if where.startswith("files.0.") and doc.get("files"):
            if isinstance(doc["files"], list) and doc["files"] and isinstance(doc["files"][0], dict):
                doc["files"][0][where[8:]] = value
        elif where == "objects.*" and isinstance(doc.get("objects"), dict):
            doc["objects"][str(value)[:70]] = value
        elif "." not in where:
            doc[where] = value
    raw = gzip.compress(json.dumps(doc).encode())
    try:
        parsed = Manifest.from_bytes(raw, "fuzz")
    except etc.FormatError as exc:
        assert "\n" not in str(exc).replace("\\n", "")
        return
    for f in parsed.files:  # whatever is accepted is safe to write under a root
        check_rel_path(f.path)
        assert f.size == sum(p.length for p in f.parts)
        for p in f.parts:
            assert p.offset + p.length <= parsed.objects[p.obj]


@given(st.binary(max_size=200))
@FAST
def test_random_bytes_are_never_a_manifest(raw):
    with pytest.raises(etc.FormatError):
        Manifest.from_bytes(raw, "noise")


# Per key, a well-formed value or any JSON value: random values alone almost never build a Config,
# and then the check on an accepted one (its repr hides the secret) would hardly ever run.
WELL_FORMED = {
    "url": st.sampled_from(["s3://bucket/prefix", "gs://bucket", "file:///srv/etc-remote"]),
    "home": st.just("/srv/etc-home"), "public": st.booleans(), "workers": st.integers(1, 64),
    "endpoint_url": st.just("http://127.0.0.1:9000"), "aws_access_key_id": st.text(string.ascii_uppercase, min_size=1),
    "aws_secret_access_key": st.text(string.ascii_lowercase + "/+", min_size=1), "region_name": st.just("us-east-1"),
    "project": st.just("etc-test"), "colour": st.just("blue"),
}


@st.composite
def config_mappings(draw) -> dict:
    keys = draw(st.lists(st.sampled_from(sorted(WELL_FORMED)), max_size=4, unique=True))
    return {k: draw(st.one_of(WELL_FORMED[k], json_values)) for k in keys}


@given(config_mappings())
@FAST
def test_config_mappings_build_or_fail_with_one_line_config_error(data):
    try:
        cfg = etc.Config.from_dict(data, source="prop.toml")
    except etc.ConfigError as exc:
        text = str(exc)
        assert "\n" not in text and text.startswith("prop.toml: ")
        secret = data.get("aws_secret_access_key")
        if isinstance(secret, str) and len(secret) > 3:
            assert secret not in text
        return
    secret = data.get("aws_secret_access_key")
    if isinstance(secret, str) and secret:
        text = repr(cfg)
        assert "aws_secret_access_key='***'" in text, text
        others = "".join(repr(v) for k, v in data.items() if k != "aws_secret_access_key")
        shown = f"'{secret}'"
        assert shown not in text or shown in others, text  # (another key may hold the same text)


@given(st.text(TRICKY, min_size=1, max_size=40))
@FAST
def test_old_archive_member_names_never_leave_the_target(name):
    from etcetera import legacy

    try:
        rel = legacy._inside_path(name, None, "x.tgz", name)
    except etc.FormatError as exc:
        assert "\n" not in str(exc).replace("\\n", "")
        return
    if rel is None:  # the wrapper directory itself: nothing is extracted for it
        assert set(name) <= {".", "/"}, name
        return
    root = "/srv/target"
    assert os.path.commonpath([root, os.path.normpath(os.path.join(root, rel))]) == root
