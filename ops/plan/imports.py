"""Load only the provider classes a program touches when planning, not whole provider packages.

Touching `pulumi_gcp.compute.Network` executes `pulumi_gcp/compute/__init__.py`, which imports all
~290 compute resource modules: most of `infra.check`'s time. For the offline plan each still-unloaded
pulumi_gcp subpackage is swapped for a module that imports the one submodule defining a requested
name, and runs the real `__init__` for any name it cannot place, so behaviour never changes.
"""

from __future__ import annotations

import importlib
import re
import sys
import types
from pathlib import Path
from typing import Any

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
# Where pulumi's code generator puts a name that is not a resource of its own.
_SHARED_MODULES = ("_inputs", "outputs", "_enums")
_ARGS_SUFFIXES = ("ArgsDict", "Args", "State")


def _snake(name: str) -> str:
    """`IAMMember` -> `iam_member`, `DatabaseInstance` -> `database_instance` (pulumi's file names)."""
    return _CAMEL_BOUNDARY.sub("_", name).lower()


class _OnDemandPackage(types.ModuleType):
    """A provider subpackage whose attributes are imported one submodule at a time."""

    _loaded_in_full = False

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        folder = Path(self.__path__[0])
        submodule = f"{self.__name__}.{name}"
        if submodule in sys.modules or (folder / f"{name}.py").exists():
            # `from . import outputs` inside the package: the submodule itself. But where the
            # real __init__'s `from .get_bucket import *` rebinds the name to what the module
            # exports (a data source function named like its file), that is what it means.
            module = sys.modules.get(submodule) or importlib.import_module(submodule)
            value = getattr(module, name) if name in getattr(module, "__all__", ()) else module
            setattr(self, name, value)
            return value
        base = name
        for suffix in _ARGS_SUFFIXES:
            if name.endswith(suffix) and len(name) > len(suffix):
                base = name.removesuffix(suffix)
                break
        for candidate in dict.fromkeys((_snake(name), _snake(base), *_SHARED_MODULES)):
            if (folder / f"{candidate}.py").exists():
                module = importlib.import_module(f"{self.__name__}.{candidate}")
                if hasattr(module, name):
                    value = getattr(module, name)
                    setattr(self, name, value)
                    return value
        return self._load_everything(name)

    def _load_everything(self, name: str) -> Any:
        # Not placed by name: run the package's real __init__ here, as a normal import would.
        spec = self.__spec__
        if spec is None or spec.loader is None or self._loaded_in_full:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        self._loaded_in_full = True
        spec.loader.exec_module(self)
        return types.ModuleType.__getattribute__(self, name)


def _unloaded(module: object) -> bool:
    # importlib.util.LazyLoader modules keep this class until their first attribute access.
    return type(module).__name__ == "_LazyModule"


def load_provider_classes_on_demand(package: str = "pulumi_gcp") -> int:
    """Make `package`'s unloaded subpackages load on demand; returns how many were changed."""
    try:
        root = importlib.import_module(package)
    except ImportError:
        return 0
    changed = 0
    for full_name, module in list(sys.modules.items()):
        head, _, sub = full_name.rpartition(".")
        if head != package or not _unloaded(module):
            continue
        # The module object itself changes class (code may already hold it, e.g. after
        # `from pulumi_gcp import compute`); object.__setattr__ bypasses the lazy module's own
        # __setattr__, which would load it. Its spec already names the real loader.
        object.__setattr__(module, "__class__", _OnDemandPackage)
        module.__dict__.setdefault("__path__", [str(Path(root.__path__[0]) / sub)])
        changed += 1
    return changed
