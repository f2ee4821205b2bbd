"""Hypothesis strategies for JSON values, hostile ones included, and exact comparison."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import strategies as st

# Characters that break naive stores, mixed into ordinary text.
_NASTY_CHARS = st.sampled_from(["$", ".", "%", "\x00", "\ud800", "\udfff", "é", "😀", "2", "E"])
_NASTY_KEYS = st.sampled_from(
    ["", "$ref", "$id", "$schema", "a.b", "%", "%24ref", "%2E", "%json", "%25", "_id", "$", "."]
)

json_text = st.text(alphabet=st.one_of(st.characters(), _NASTY_CHARS), max_size=12)
json_keys = st.one_of(json_text, _NASTY_KEYS)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**31), max_value=2**31),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.sampled_from([2**63 - 1, -(2**63), 2**63, 2**64 - 1, -(2**63) - 1]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 3.0, 1e308, 5e-324]),
    json_text,
)

json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(json_keys, children, max_size=5),
    ),
    max_leaves=25,
)


def deep_value(depth: int, leaf: Any = 1) -> Any:
    """A value `depth` containers deep, alternating objects and arrays."""
    value = leaf
    for level in range(depth):
        value = {"k": value} if level % 2 else [value]
    return value


def same(a: Any, b: Any) -> bool:
    """Equal, with the same types everywhere (3.0 is not 3, -0.0 is not 0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    return bool(a == b)
