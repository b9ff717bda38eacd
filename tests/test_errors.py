"""The error rules of CONTRIBUTING.md: one hierarchy, in one module, with builtin bases."""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import neuratlas
from neuratlas import errors
from neuratlas.errors import (
    AmbiguousError,
    ArgumentError,
    ArgumentTypeError,
    DataUnavailableError,
    Error,
    NotFoundError,
    SpecError,
)

SRC = Path(neuratlas.__file__).parent
# builtins that code may raise: internal invariants and Python protocols
ALLOWED_BUILTINS = {"AssertionError", "RuntimeError", "AttributeError", "NotImplementedError"}


def _all_modules() -> list:
    names = [m.name for m in pkgutil.walk_packages([str(SRC)], prefix="neuratlas.")]
    return [importlib.import_module(n) for n in sorted(names)]


def test_every_error_class_is_defined_in_errors_and_is_an_error() -> None:
    found = {}
    for module in _all_modules():
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, BaseException):
                if issubclass(obj, Warning) or name.startswith("_"):
                    continue  # warnings are not errors; private ones never escape
                if obj.__module__.startswith("neuratlas"):
                    found[obj.__qualname__] = obj
    assert found, "no error classes found: the scan is broken"
    for name, cls in found.items():
        assert cls.__module__ == "neuratlas.errors", f"{name} is defined in {cls.__module__}"
        assert issubclass(cls, Error), f"{name} is not a neuratlas.Error"


@pytest.mark.parametrize(
    ("cls", "builtin"),
    [
        (ArgumentError, ValueError),
        (ArgumentTypeError, TypeError),
        (NotFoundError, LookupError),
        (AmbiguousError, LookupError),
        (SpecError, ValueError),
        (errors.ImageError, ValueError),
        (errors.SpaceMismatchError, ValueError),
        (errors.RMAQueryError, ValueError),
        (errors.TransformError, ValueError),
        (errors.DatasetNotFoundError, LookupError),
    ],
)
def test_each_error_derives_from_the_builtin_that_describes_it(cls, builtin) -> None:
    assert issubclass(cls, Error) and issubclass(cls, builtin)


def test_every_error_class_is_listed_in_the_module_docstring() -> None:
    classes = [
        name
        for name, obj in vars(errors).items()
        if inspect.isclass(obj) and issubclass(obj, Error) and obj is not Error
    ]
    for name in classes:
        assert f"  {name}" in errors.__doc__, f"{name} is missing from the hierarchy drawing"


def _raised_names(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Raise) and node.exc is not None:
            target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(target, ast.Name):
                out.append((node.lineno, target.id))
    return out


def test_no_bare_error_and_no_builtin_error_is_raised() -> None:
    builtin_errors = {
        n for n, o in vars(builtins).items() if inspect.isclass(o) and issubclass(o, Exception)
    }
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        for lineno, name in _raised_names(path):
            if name == "Error" or (name in builtin_errors and name not in ALLOWED_BUILTINS):
                offenders.append(f"{path.relative_to(SRC)}:{lineno} raises {name}")
    assert not offenders, "\n".join(offenders)


def test_the_raise_scan_sees_bare_errors(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    raise Error('x')\n\ndef g():\n    raise ValueError\n")
    assert _raised_names(module) == [(2, "Error"), (5, "ValueError")]


def test_messages_carry_the_hint_and_suggestions() -> None:
    error = NotFoundError("no region 'x'", suggestions=["a", "b"])
    assert str(error) == "no region 'x' (did you mean 'a', 'b'?)"
    assert error.hint == "did you mean 'a', 'b'?"
    ambiguous = AmbiguousError("'x' matches 2", candidates=["x1", "x2"])
    assert ambiguous.hint == "be more specific: one of 'x1', 'x2'"
    spec = SpecError("bad", file="f.json", path="$.a")
    assert str(spec) == "f.json:$.a: bad"
    unavailable = DataUnavailableError("gone", source="http://x", hint="retry")
    assert unavailable.source == "http://x" and str(unavailable) == "gone (retry)"


def test_messages_point_only_to_documents_that_ship_with_the_package() -> None:
    # DESIGN.md lives beside the repository, not in the wheel: a hint naming it
    # sends the user to a file they do not have
    offenders = [
        f"{path.relative_to(SRC)}:{number}"
        for path in sorted(SRC.rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "DESIGN.md" in line
    ]
    assert not offenders, offenders
