"""Engine values turned into plan JSON: markers resolved, numbers normalised, passwords masked."""

from __future__ import annotations

from ops.plan.values import MASKED, UNKNOWN_SHOWN, decode_struct, flatten, mask_text

SIG = "4dabf18193072939515e22adb298388d"


def test_url_passwords_are_masked_wherever_they_sit() -> None:
    """Any URL's password becomes ***, even with / or : in it, even mid-sentence."""
    text = "use postgresql://app:s3/cr:et@db:5432/app or redis://:pw@cache"
    assert "use postgresql://app:***@db:5432/app or redis://:***@cache" == mask_text(text)


def test_wire_markers_are_resolved() -> None:
    """Secrets are masked, unknowns named, references shown by URN, doubles made integers."""
    wire = {
        "password": {SIG: "1b47061264138c4ac30d75fd1eb44270", "value": "hunter2"},
        "id": "04da6b54-80e4-46f7-96ec-b56ff0331ba9",
        "ref": {SIG: "5cf8f73096256a8f31e491e813e4eb8e", "urn": "urn:x"},
        "out": {SIG: "d0e6a833031e9bbcd3f4e8bde6ca49a4", "secret": True, "value": "hunter2"},
        "size": 5.0,
        "ratio": 0.5,
    }
    assert {
        "id": UNKNOWN_SHOWN,
        "out": MASKED,
        "password": MASKED,
        "ratio": 0.5,
        "ref": "(resource urn:x)",
        "size": 5,
    } == decode_struct(wire)


def test_named_lists_flatten_by_name() -> None:
    """Env vars are keyed by name, so their order does not matter; other lists by index."""
    inputs = {"envs": [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}], "args": ["x"]}
    assert {"args[0]": "x", "envs[A].value": "1", "envs[B].value": "2"} == flatten(inputs)
    assert {} == flatten({})
