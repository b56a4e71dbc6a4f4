"""The layering rules of docs/architecture.md ("Layers and what each may import"),
checked on every absolute ``openkms.*`` import in src/openkms. Change the table there and
``ALLOWED`` here together."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "openkms"

#: layer -> the openkms layers it may import (besides itself); ``layer.module`` allows
#: that one module only (the service sees the wire's generated types, not its code).
ALLOWED: dict[str, set[str]] = {
    "server": {"*"},
    "cli": {"*"},
    "wire": {"errors"},
    "auth": {"errors", "storage"},
    "service": {"authz", "domain", "crypto", "storage", "audit", "errors", "wire.shapes"},
    "authz": {"domain", "errors"},
    "domain": {"errors"},
    "crypto": {"domain", "errors"},
    "storage": {"domain", "errors"},
    "audit": {"domain", "errors"},
    "errors": set(),
    "testing": set(),
}


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _layer(path: Path) -> str:
    parts = path.relative_to(SRC).parts
    return parts[0].removesuffix(".py") if parts else ""


def test_imports_point_down() -> None:
    bad = []
    for path in SRC.rglob("*.py"):
        layer = _layer(path)
        if layer not in ALLOWED:
            continue
        allowed = ALLOWED[layer]
        for name in _imports(path):
            if not name.startswith("openkms.") or "*" in allowed:
                continue
            target = name.split(".")[1]
            module = ".".join(name.split(".")[1:3])
            if target != layer and target not in allowed and module not in allowed:
                bad.append(f"{path.relative_to(SRC)} imports {name}")
    assert bad == []


def test_only_crypto_touches_hazmat() -> None:
    offenders = [
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if _layer(path) != "crypto"
        and any(name.startswith("cryptography") for name in _imports(path))
    ]
    assert offenders == []


def test_every_layer_is_known() -> None:
    layers = {_layer(p) for p in SRC.rglob("*.py") if p.parent != SRC or p.stem != "__init__"}
    unknown = layers - set(ALLOWED) - {"__init__", "__main__"}
    assert unknown == set()
