"""A corpus of hostile JSON values, each named, each with why it breaks naive stores.

Every case either round-trips exactly (types included) through both stores and
every field that holds JSON, or is refused with `InvalidInputError` naming the
path (`refused` holds a regex of the reason). Big values are built on demand
(`Case.value()`), so importing the corpus costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .strategies import deep_value

MIB = 1024 * 1024


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[], Any]
    why: str
    refused: str | None = None
    """A regex of the refusal's reason; None if the value must round-trip."""
    big: bool = False
    """Megabytes: tried in the fields that can each hold it (16 MiB per run)."""

    def value(self) -> Any:
        return self.make()


def _case(name: str, value: Any, why: str, refused: str | None = None) -> Case:
    return Case(name, lambda: value, why, refused)


def _big(name: str, make: Callable[[], Any], why: str) -> Case:
    return Case(name, make, why, big=True)


CORPUS: list[Case] = [
    # ── JSON Schemas: `$` keywords are ordinary payload here ──
    _case(
        "json schema 2020-12",
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://example.com/person",
            "$ref": "#/$defs/person",
            "$comment": "a $ref at the root",
            "$defs": {
                "person": {
                    "$anchor": "p",
                    "type": "object",
                    "properties": {"$ref": {"type": "string"}, "a.b": {"$ref": "#"}},
                    "$dynamicRef": "#meta",
                }
            },
        },
        "`$`-prefixed names are refused by servers before 5.0 and read as operators "
        "in updates and pipelines",
    ),
    _case(
        "json schema draft-04 with id and definitions",
        {"id": "x", "definitions": {"a": {"$ref": "#/definitions/b"}}, "$ref": "#/a"},
        "`$ref` next to other keys, nested",
    ),
    # ── MongoDB extended JSON look-alikes ──
    _case(
        "extended json $oid",
        {"$oid": "507f1f77bcf86cd799439011"},
        "mongoexport/EJSON parsers turn it into an ObjectId",
    ),
    _case(
        "extended json $date",
        {"$date": "2020-01-01T00:00:00Z"},
        "EJSON turns it into a datetime, losing the string",
    ),
    _case(
        "extended json $date of $numberLong",
        {"$date": {"$numberLong": "1577836800000"}},
        "nested EJSON, canonical mode",
    ),
    _case("extended json $numberLong", {"$numberLong": "1"}, "EJSON turns it into an Int64"),
    _case(
        "extended json $numberDecimal and $numberDouble",
        [{"$numberDecimal": "1.5"}, {"$numberDouble": "NaN"}],
        "EJSON turns them into Decimal128 and a float NaN",
    ),
    _case(
        "extended json $binary, $regex, $timestamp",
        [
            {"$binary": {"base64": "AA==", "subType": "00"}},
            {"$regex": "^a", "$options": "i"},
            {"$timestamp": {"t": 1, "i": 2}},
            {"$minKey": 1},
            {"$maxKey": 1},
            {"$undefined": True},
        ],
        "EJSON type wrappers",
    ),
    # ── DBRef shapes ──
    _case(
        "dbref shape",
        {"$ref": "users", "$id": 5, "$db": "app"},
        "a document holding $ref and $id decodes as bson.DBRef, not a dict",
    ),
    _case(
        "dbref shape with extra fields, in a list",
        [{"$ref": "c", "$id": {"$oid": "x"}, "extra": 1}, {"$id": 1, "$ref": "d"}],
        "DBRef decoding keeps extra fields in another place; key order swapped",
    ),
    # ── update operator look-alikes (injection) ──
    _case(
        "operator look-alikes",
        {"$set": {"admin": True}, "$where": "sleep(1000)", "$gt": "", "$ne": None},
        "inserted unescaped into an update or a filter they become operators",
    ),
    # ── keys with dots ──
    _case(
        "keys with dots",
        {"a.b": 1, ".": 2, ".a": 3, "a.": 4, "a..b": 5, "...": 6, "a.b.c.": {"d.e": 7}},
        "a dot in a field name splits an update path; leading, trailing and "
        "consecutive dots make empty path parts, which servers refuse",
    ),
    # ── keys with dollars ──
    _case(
        "keys with dollars",
        {"$": 1, "$$": 2, "a$": 3, "a$b": 4, "$a.b$": 5, "$[]": 6, "$[x]": 7, "$**": 8},
        "`$` is positional, `$[]` and `$[x]` are array updates, `$$` a variable; "
        "mongomock reads any `$` in a path as positional",
    ),
    # ── NUL and empty keys ──
    _case(
        "keys with NUL",
        {"\x00": 1, "a\x00b": 2, "\x00\x00": 3},
        "BSON field names are C strings: PyMongo refuses a NUL in a key",
    ),
    _case(
        "empty keys",
        {"": 1, "x": {"": {"": ""}}},
        "servers refuse empty field names; an empty path part is invalid",
    ),
    # ── keys that look like the encoding's own escapes ──
    _case(
        "keys that look like escapes",
        {
            "%24ref": 1,
            "%2E": 2,
            "%": 3,
            "%json": 4,
            "%uD800": 5,
            "%25": 6,
            "%00": 7,
            "%%": 8,
            "%2": 9,
            "%u": 10,
            "%uZZZZ": 11,
        },
        "a percent-escaping that does not escape `%` itself decodes these into other keys",
    ),
    _case(
        "the JSON-text marker as a value",
        {"%json": "18446744073709551615"},
        "one-field {%json: text} is the encoding's marker: a user value of that "
        "shape must not decode as the integer",
    ),
    _case(
        "escaped twins",
        {"$a": 1, "%24a": 2, "a.b": 3, "a%2Eb": 4},
        "keys that escape to each other's stored forms must stay distinct",
    ),
    # ── lone surrogates ──
    _case(
        "lone surrogates in keys",
        {"\ud800": 1, "a\udfffb": 2, "\udc00\ud800": 3, "😀": 4},
        "not UTF-8: BSON cannot hold them; a reversed pair is two lone surrogates",
    ),
    _case(
        "lone surrogates in values",
        ["\ud800", "a\udfffb", "\udc00\ud800", {"k": "\ud83d"}],
        "not UTF-8: PyMongo raises when encoding them",
    ),
    _case(
        "NUL and unusual characters in values",
        ["a\x00b", "\x00", "\u2028\u2029", "\ufeff", "\U0010ffff"],
        "C-string handling truncates at NUL; separators and BOM break naive JSON",
    ),
    # ── integers ──
    _case(
        "int64 bounds",
        [2**63 - 1, -(2**63), 2**31, -(2**31) - 1],
        "int64 holds them: they must come back as int, not bson.Int64",
    ),
    _case(
        "just past int64",
        [2**63, -(2**63) - 1],
        "BSON has no integer past int64: PyMongo raises OverflowError",
    ),
    _case(
        "uint64 max and past",
        [2**64 - 1, 2**64, -(2**64)],
        "JSON from Rust or Go engines carries u64; past it no fixed-size type holds them",
    ),
    _case(
        "huge integers",
        [10**40, -(10**100), 10**4299],
        "beyond every machine type; 4300 digits is Python's default str() limit",
    ),
    _case(
        "an integer past Python's str() digit limit",
        {"n": 10**4300},
        "json.dumps raises a bare ValueError for more than 4300 digits",
        refused=r"integer .*4300 digits",
    ),
    _case(
        "bools next to ints",
        [True, 1, 1.0, False, 0, 0.0, -0.0, None],
        "True == 1 == 1.0 in Python: a store that compares by value loses the type",
    ),
    # ── floats ──
    _case(
        "negative zero",
        {"z": -0.0, "l": [-0.0, 0.0]},
        "-0.0 == 0.0: the sign is lost by stores that normalise numbers",
    ),
    _case(
        "floats that look like ints",
        [3.0, 1e20, 2.0**63, 2.0**64, 1e308, -1e22],
        "JSON writers print them without a dot; readers then return ints",
    ),
    _case(
        "subnormals and extremes",
        [5e-324, 2.2250738585072014e-308, 2.225073858507201e-308, 1.7976931348623157e308],
        "the smallest subnormal, the smallest normal, the largest double",
    ),
    _case(
        "not JSON numbers",
        {"ok": 1, "bad": [0, float("nan")]},
        "NaN is not JSON (and NaN != NaN): refused, naming the path",
        refused=r"not a JSON number",
    ),
    _case(
        "infinity",
        {"x": {"y": float("-inf")}},
        "not JSON",
        refused=r"not a JSON number",
    ),
    # ── nesting ──
    _case("nested 99 levels", deep_value(99), "just under the server's 100-level limit"),
    _case("nested 100 levels", deep_value(100), "at the server's limit, inside a document"),
    _case("nested 101 levels", deep_value(101), "past the server's limit"),
    _case(
        "nested 300 levels",
        deep_value(300),
        "past any sane limit: refused with the path, not a RecursionError",
        refused=r"deeper than 256 levels",
    ),
]


def deep_objects(depth: int, key: str = "$ref.") -> Any:
    """`depth` objects nested under a hostile key."""
    value: Any = "leaf"
    for _ in range(depth):
        value = {key: value}
    return value


def deep_arrays(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


CORPUS += [
    _case(
        "nested 250 levels of hostile keys",
        deep_objects(250),
        "deep under `$`-and-dot keys: both rules at once, past the native depth",
    ),
    _case("arrays nested 200 levels", deep_arrays(200), "arrays count towards depth too"),
    # ── size ──
    _big("a 1 MiB key", lambda: {"k" * MIB: 1}, "field names have no length limit but buffers do"),
    _big(
        "a 1 MiB key full of dots and dollars",
        lambda: {"$." * (MIB // 2): 1},
        "escaping grows it by half: 1.5 MiB of escapes",
    ),
    _big("a 4 MiB string", lambda: "x" * (4 * MIB), "one value of megabytes"),
    _big(
        "a 2 MiB string of multi-byte characters",
        lambda: "é😀" * (MIB // 3),
        "byte length is not character length",
    ),
    _big(
        "100k small items",
        lambda: list(range(100_000)),
        "large arrays: per-item overhead in encoders and in BSON array keys",
    ),
    _big(
        "20k small objects with an escaped key",
        lambda: [{"i": i, "$t": "x"} for i in range(20_000)],
        "an escaped key in each of many objects: the encoder's key-set cache",
    ),
]
