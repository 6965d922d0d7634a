"""The deep-partial merge every capability PATCH follows, as properties; and the API following it."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openstoq.merge import changed_paths, deep_merge

# A few shared keys, so patches and bases overlap often and nest into each other.
KEYS = st.sampled_from(["a", "b", "c", "enabled", "text"])
SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=5)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=12,
)
DOCS = st.dictionaries(KEYS, VALUES, max_size=5)
PROPERTY = settings(max_examples=60, deadline=None)


def leaves(doc: dict[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every non-object value of ``doc`` with its key path."""
    for key, value in doc.items():
        if isinstance(value, dict):
            yield from leaves(value, (*prefix, key))
        else:
            yield (*prefix, key), value


def scribble(value: Any) -> None:
    """Change every object and list inside ``value``, in place."""
    if isinstance(value, dict):
        for item in list(value.values()):
            scribble(item)
        value["zz"] = "scribbled"
    elif isinstance(value, list):
        for item in value:
            scribble(item)
        value.append("scribbled")


def at(doc: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


@PROPERTY
@given(base=DOCS, patch=DOCS)
def test_inputs_are_not_mutated(base: dict, patch: dict) -> None:
    base_copy, patch_copy = copy.deepcopy(base), copy.deepcopy(patch)
    merged = deep_merge(base, patch)
    assert base == base_copy and patch == patch_copy
    scribble(merged)  # changing the result must not reach either input: it shares nothing with them
    assert base == base_copy and patch == patch_copy


@PROPERTY
@given(base=DOCS, patch=DOCS)
def test_absent_keys_are_untouched(base: dict, patch: dict) -> None:
    merged = deep_merge(base, patch)
    assert set(merged) == set(base) | set(patch)
    for key in set(base) - set(patch):
        assert merged[key] == base[key]


@PROPERTY
@given(base=DOCS, patch=DOCS)
def test_nested_objects_merge_and_everything_else_is_replaced(base: dict, patch: dict) -> None:
    merged = deep_merge(base, patch)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            assert merged[key] == deep_merge(base[key], value)
        else:
            assert merged[key] == value, "scalars, lists and new objects replace what was there"


@PROPERTY
@given(base=DOCS, patch=DOCS)
def test_patch_values_win_at_every_depth(base: dict, patch: dict) -> None:
    merged = deep_merge(base, patch)
    for path, value in leaves(patch):
        assert at(merged, path) == value


@PROPERTY
@given(base=DOCS, patch=DOCS)
def test_identity_and_idempotence(base: dict, patch: dict) -> None:
    assert deep_merge(base, {}) == base
    assert deep_merge({}, patch) == patch
    once = deep_merge(base, patch)
    assert deep_merge(once, patch) == once


@PROPERTY
@given(base=DOCS, patch=DOCS)
def test_changed_paths_name_only_what_the_patch_touched(base: dict, patch: dict) -> None:
    merged = deep_merge(base, patch)
    changes = changed_paths(base, merged)
    assert changed_paths(base, base) == {}
    touched = {".".join(path) for path, _ in leaves(patch)} | {k for k, v in patch.items() if isinstance(v, dict)}
    for name, (old, new) in changes.items():
        assert old != new
        assert any(name == t or name.startswith(t + ".") or t.startswith(name + ".") for t in touched), name


def test_known_example() -> None:
    base = {"badge": {"enabled": True, "text": "Preorder"}, "button": {"text": "Go"}, "tags": ["a"]}
    patch = {"badge": {"text": "Soon"}, "tags": ["b"]}
    assert deep_merge(base, patch) == {
        "badge": {"enabled": True, "text": "Soon"},
        "button": {"text": "Go"},
        "tags": ["b"],
    }
    assert changed_paths(base, deep_merge(base, patch)) == {"badge.text": ["Preorder", "Soon"], "tags": [["a"], ["b"]]}


# --- through the API: a random valid partial widget patch is deep_merge(before, patch) ------------

TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=30)
LONG_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=60)
COLOR = st.from_regex(r"\A#[0-9a-fA-F]{6}\Z")


def section(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A random subset of the section's fields, each with a valid value."""
    return st.fixed_dictionaries({}, optional=fields)


WIDGET_PATCHES = st.fixed_dictionaries(
    {},
    optional={
        "button": section(text=TEXT, custom_colors=st.booleans(), text_color=COLOR, background_color=COLOR),
        "badge": section(enabled=st.booleans(), text=TEXT, text_color=COLOR, background_color=COLOR),
        "disclaimer": section(
            enabled=st.booleans(),
            text=LONG_TEXT,
            text_color=COLOR,
            background_color=COLOR,
            border_radius=st.integers(0, 50),
        ),
        "billing_widget": section(title=TEXT, description=LONG_TEXT),
    },
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(patch=WIDGET_PATCHES)
async def test_a_widget_patch_through_the_api_is_deep_merge(
    client: httpx.AsyncClient, offer: dict, patch: dict
) -> None:
    path = f"/preorders/offers/{offer['id']}/widget"
    before = (await client.get(path)).json()
    response = await client.patch(path, json=patch)
    assert response.status_code == 202, response.text
    expected = deep_merge(before, patch)
    assert response.json() == expected
    assert (await client.get(path)).json() == expected
