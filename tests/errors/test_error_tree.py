"""The error tree has one home: every AWS-facing error is defined in ``openkms.errors``.

A subclass of :class:`~openkms.errors.AWSError` defined anywhere else in
``src/openkms`` (as the CloudTrail errors once were in the server layer) fails here;
so does an error class the package does not re-export, or two classes that would
render the same ``__type``.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import openkms.errors
from openkms.errors import AWSError, cloudtrail, common, iam, kms

SRC = Path(openkms.errors.__file__).resolve().parents[1]
MODULES = (common, kms, cloudtrail, iam)


def _error_classes() -> list[type[AWSError]]:
    return [
        cls
        for module in MODULES
        for cls in vars(module).values()
        if inspect.isclass(cls) and issubclass(cls, AWSError) and cls.__module__ == module.__name__
    ]


def test_no_error_class_outside_the_package() -> None:
    names = {"AWSError"} | {cls.__name__ for cls in _error_classes()}
    strays = []
    for path in SRC.rglob("*.py"):
        if path.parent.name == "errors" and path.parent.parent == SRC:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                bases = {b.id if isinstance(b, ast.Name) else ast.unparse(b) for b in node.bases}
                if bases & names:
                    strays.append(f"{path.relative_to(SRC)}: {node.name}")
    assert strays == []


def test_the_package_reexports_every_error() -> None:
    exported = set(openkms.errors.__all__)
    assert {cls.__name__ for cls in _error_classes()} | {"AWSError"} == exported
    for name in exported:
        assert getattr(openkms.errors, name).__name__ == name


def test_type_names_are_unique() -> None:
    seen: dict[str, str] = {}
    for cls in _error_classes():
        type_name = cls("m").type_name
        assert type_name not in seen, (
            f"{cls.__name__} and {seen[type_name]} both render {type_name}"
        )
        seen[type_name] = cls.__name__
