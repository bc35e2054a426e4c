"""Asset keys and partition keys -> dataset names that satisfy etcetera's name rule."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from dagster_etcetera import dataset_name
from etcetera.names import check_name


def test_key_parts_are_joined_with_dots() -> None:
    assert dataset_name(["raw"]) == "raw"
    assert dataset_name(["lake", "raw", "images"]) == "lake.raw.images"


def test_partition_key_is_appended() -> None:
    assert dataset_name(["events"], "2024-05-01") == "events.2024-05-01"
    assert dataset_name(["events"], "eu") == "events.eu"


@pytest.mark.parametrize("key", ["us|east", "a/b", "2024-05-01-00:00", " x", "_hidden", "é"])
def test_unsafe_partition_keys_are_cleaned_and_disambiguated(key: str) -> None:
    name = dataset_name(["sales"], key)
    assert check_name(name) == name
    assert name.startswith("sales.")
    assert name != dataset_name(["sales"], key + "!")


def test_cleaned_keys_do_not_collide() -> None:
    assert dataset_name(["s"], "a|b") != dataset_name(["s"], "a/b")
    assert dataset_name(["s"], "a|b") != dataset_name(["s"], "a_b")
    assert dataset_name(["s"], "a_b") == "s.a_b"


def test_long_names_are_shortened_with_a_hash() -> None:
    a = dataset_name(["x" * 100], "p" * 100)
    b = dataset_name(["x" * 100], "p" * 99 + "q")
    assert len(a) <= 128 and check_name(a) == a
    assert a != b


@given(st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=4), st.none() | st.text(max_size=60))
def test_every_key_gives_a_valid_name(parts: list[str], partition: str | None) -> None:
    name = dataset_name(parts, partition)
    assert check_name(name) == name


def test_recorded_refs_are_parsed_with_the_core_rule() -> None:
    from dagster_etcetera.io_manager import _is_version_of

    assert _is_version_of("raw@3", "raw")
    assert not _is_version_of("raw@3x", "raw")  # not a version: fall back to the latest, do not fail the pull
    assert not _is_version_of("raw.part@2", "raw") and not _is_version_of("raw", "raw")
