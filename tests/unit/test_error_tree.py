"""errors.py's docstring draws the error tree: it names every error class of the package."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import batch_runner
import batch_runner.errors


def test_the_error_tree_names_every_error_class_of_the_package():
    classes: set[str] = set()
    for info in pkgutil.walk_packages(batch_runner.__path__, "batch_runner."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (inspect.isclass(value) and issubclass(value, BaseException)
                    and value.__module__ == info.name):
                classes.add(name)
    assert "WorldMismatchError" in classes and "ClaimLostError" in classes  # the walk reaches every module
    doc = batch_runner.errors.__doc__ or ""
    assert sorted(c for c in classes if c not in doc) == []
