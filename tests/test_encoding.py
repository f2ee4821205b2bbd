"""The JSON-to-storage encoding: exact round trips, server-safe documents, clear refusals."""

from __future__ import annotations

from typing import Any

import bson
import pytest
from bson.int64 import Int64
from bson.son import SON
from hypothesis import given, settings
from hypothesis import strategies as st

from mongo_wfstore._encoding import (
    JSON_MARKER,
    MAX_JSON_DEPTH,
    MAX_NATIVE_DEPTH,
    UnstorableValue,
    decode_value,
    encode_value,
    escape_key,
    unescape_key,
)

from .doubles import assert_storable
from .strategies import deep_value, json_keys, json_values, same


def through_bson(value: Any) -> Any:
    """What a value looks like after a trip to the server and back, as the
    store places it: three levels down (run, steps array, step).
    """
    doc = {"steps": [{"result": encode_value(value)}]}
    assert_storable(doc)
    back = bson.decode(bson.encode(doc))
    return decode_value(back["steps"][0]["result"])


# ── field names ───────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("key", "stored"),
    [
        ("plain", "plain"),
        ("with space", "with space"),
        ("mid$dle", "mid%24dle"),
        ("$ref", "%24ref"),
        ("$", "%24"),
        ("a.b", "a%2Eb"),
        (".", "%2E"),
        ("50%", "50%25"),
        ("%24ref", "%2524ref"),
        ("%json", "%25json"),
        ("nul\x00", "nul%00"),
        ("", "%"),
        ("$a.b%c\x00", "%24a%2Eb%25c%00"),
        ("key \udfff", "key %uDFFF"),
        ("\ud800.", "%uD800%2E"),
        ("%uD800", "%25uD800"),
    ],
)
def test_escape_key(key: str, stored: str) -> None:
    assert escape_key(key) == stored
    assert unescape_key(stored) == key


@given(json_keys)
def test_escaped_keys_are_legal_field_names_and_reversible(key: str) -> None:
    stored = escape_key(key)
    assert stored and not stored.startswith("$")
    assert "." not in stored and "\x00" not in stored
    assert stored != JSON_MARKER
    assert unescape_key(stored) == key


def test_keys_stored_before_every_dollar_was_escaped_still_decode() -> None:
    # Up to 0.1.0 only a leading `$` was escaped: "a$b" was stored as it is.
    assert unescape_key("mid$dle") == "mid$dle"
    assert unescape_key("%24a$b") == "$a$b"
    assert decode_value({"k$": {"x$y": 1}}) == {"k$": {"x$y": 1}}


def test_plain_keys_are_not_copied() -> None:
    assert escape_key("some_key") is escape_key("some_key") or escape_key("some_key") == "some_key"


# ── values ────────────────────────────────────────────────────────────────


def test_an_ordinary_value_is_stored_as_it_is_without_a_copy() -> None:
    value = {"docs": [{"title": "t", "score": 0.5, "n": 3, "ok": True, "x": None}]}
    assert encode_value(value) is value


def test_only_the_changed_branch_is_copied() -> None:
    untouched = {"a": [1, 2]}
    value = {"keep": untouched, "$ref": "x"}
    stored = encode_value(value)
    assert stored == {"keep": untouched, "%24ref": "x"}
    assert stored["keep"] is untouched
    assert value == {"keep": {"a": [1, 2]}, "$ref": "x"}  # the input is not modified


@pytest.mark.parametrize(
    "value",
    [
        2**63,
        2**64 - 1,
        -(2**63) - 1,
        10**40,
        "lone \ud800 surrogate",
        [1, "\ud83d"],
    ],
    ids=repr,
)
def test_what_bson_cannot_hold_is_kept_as_json_text(value: Any) -> None:
    stored = encode_value(value)
    assert JSON_MARKER in str(stored)
    assert same(through_bson(value), value)


def test_int64_bounds_stay_native() -> None:
    for value in (2**63 - 1, -(2**63), 2**31, -(2**31) - 1):
        assert encode_value(value) == value
        back = through_bson(value)
        assert back == value and type(back) is int


def test_int64_from_the_driver_is_decoded_as_int() -> None:
    assert type(decode_value({"a": [Int64(5)]})["a"][0]) is int
    assert type(decode_value(Int64(2**40))) is int


def test_a_custom_document_class_is_decoded_as_dict() -> None:
    decoded = decode_value(SON([("%24ref", SON([("a", 1)]))]))
    assert decoded == {"$ref": {"a": 1}} and type(decoded) is dict


def test_escaped_sub_documents_never_decode_as_dbref() -> None:
    value = {"$ref": "collection", "$id": 5, "$db": "x"}
    assert same(through_bson(value), value)


def test_floats_that_look_like_ints_stay_floats() -> None:
    value = {"f": 3.0, "z": -0.0, "i": 3, "b": True, "n": None}
    assert same(through_bson(value), value)


@pytest.mark.parametrize("depth", [1, MAX_NATIVE_DEPTH - 1, MAX_NATIVE_DEPTH, 150, MAX_JSON_DEPTH])
def test_deep_values_round_trip_and_stay_within_the_server_depth(depth: int) -> None:
    value = deep_value(depth)
    assert same(through_bson(value), value)


def test_values_nested_past_the_limit_are_refused_with_the_path() -> None:
    with pytest.raises(UnstorableValue, match=f"deeper than {MAX_JSON_DEPTH}") as info:
        encode_value(deep_value(MAX_JSON_DEPTH + 1))
    assert info.value.path("result").startswith("result[0].k[0]")
    with pytest.raises(UnstorableValue):
        encode_value(deep_value(5000))


def test_subclasses_of_json_types_are_stored_as_their_base_type() -> None:
    import enum
    from collections import OrderedDict

    class Color(str, enum.Enum):
        RED = "red"

    value = {"c": Color.RED, "o": OrderedDict(a=1), "i": Int64(3)}
    back = through_bson(value)
    assert same(back, {"c": "red", "o": {"a": 1}, "i": 3})


@pytest.mark.parametrize(
    ("value", "path", "reason"),
    [
        ({"a": {"b": [0, float("nan")]}}, "result.a.b[1]", "not a JSON number"),
        ({"a": (1, 2)}, "result.a", r"tuple is not a JSON value \(use a list\)"),
        ({"a": [{"b": {1, 2}}]}, "result.a[0].b", "set is not a JSON value"),
        ({"x y": {2: 1}}, "result['x y']", "object key 2 is not a string"),
        ([b"raw"], "result[0]", "bytes is not a JSON value"),
        ({"deep": deep_value(300, float("inf"))}, "result.deep", "deeper than 256 levels"),
    ],
)
def test_non_json_values_are_refused_with_the_path(value: Any, path: str, reason: str) -> None:
    with pytest.raises(UnstorableValue, match=reason) as info:
        encode_value(value)
    assert info.value.path("result").startswith(path)


# ── properties ────────────────────────────────────────────────────────────


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_any_json_value_round_trips_exactly_through_bson(value: Any) -> None:
    assert same(through_bson(value), value)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(json_keys, json_values, max_size=4))
def test_any_json_object_round_trips_exactly_as_a_whole_field(value: dict[str, Any]) -> None:
    doc = {"context": encode_value(value)}
    assert_storable(doc)
    assert same(decode_value(bson.decode(bson.encode(doc))["context"]), value)
