"""Provider classes loaded on demand for the plan: the same classes, far fewer modules."""

from __future__ import annotations

import subprocess
import sys

import pulumi_gcp
import pytest

from ops.plan.imports import load_provider_classes_on_demand
from stacks.stackfile import REPO_ROOT


def _loaded(package: str) -> list[str]:
    return [name for name in sys.modules if name.startswith(f"{package}.")]


def test_only_the_requested_submodules_load() -> None:
    """Asking a swapped subpackage for a resource and its args imports just their modules."""
    load_provider_classes_on_demand()
    bigquery = pulumi_gcp.bigquery
    assert "_OnDemandPackage" == type(bigquery).__name__
    dataset, access = bigquery.Dataset, bigquery.DatasetAccessArgs
    assert ("pulumi_gcp.bigquery.dataset", "pulumi_gcp.bigquery._inputs") == (
        dataset.__module__,
        access.__module__,
    )
    assert len(_loaded("pulumi_gcp.bigquery")) < 10


def test_names_it_cannot_place_load_the_package_in_full() -> None:
    """A name not derivable from a file name falls back to the real __init__, then to AttributeError."""
    load_provider_classes_on_demand()
    storage = pulumi_gcp.storage
    assert "pulumi_gcp.storage" == storage.__name__
    assert callable(storage.get_bucket)  # the function, defined in get_bucket.py, found by file name
    with pytest.raises(AttributeError, match="no attribute 'NoSuchThing'"):
        getattr(storage, "NoSuchThing")  # noqa: B009 - a missing name on purpose
    assert len(_loaded("pulumi_gcp.storage")) > 20  # the fallback ran the real __init__


def test_a_function_named_like_its_file_is_the_function() -> None:
    """`dns.get_managed_zone` is the data source function, as after a normal import, not its module."""
    load_provider_classes_on_demand()
    dns = pulumi_gcp.dns
    assert "_OnDemandPackage" == type(dns).__name__
    function = dns.get_managed_zone
    assert callable(function)
    assert sys.modules["pulumi_gcp.dns.get_managed_zone"].get_managed_zone is function


@pytest.mark.usefixtures("subprocesses")
def test_speedups_do_not_change_the_plan() -> None:
    """A fresh process plans prod to the same bytes with and without the on-demand loading (the two
    side by side: the test waits for the slower, not for both in turn)."""
    command = [sys.executable, "-m", "ops.plan.planner", "--stack", "prod", "--json", "-"]
    runs = [
        subprocess.Popen(argv, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for argv in (command, [*command, "--plain"])
    ]
    (fast, fast_err), (plain, plain_err) = (run.communicate(timeout=300) for run in runs)
    assert [0, 0] == [run.returncode for run in runs], fast_err + plain_err
    assert plain == fast
    assert '"stack": "prod"' in fast
