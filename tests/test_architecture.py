"""The layers of docs/ARCHITECTURE.md, enforced: which part of apdraw may import which.

Every ``import apdraw.X`` / ``from apdraw.X import`` in src/apdraw (at any depth,
including imports inside functions) is checked against :data:`ALLOWED`.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "apdraw"

BASE = {"apdraw", "io", "config", "registry", "parts", "runtime", "persistence"}
EVERYTHING = BASE | {"models", "losses", "npr", "vector", "face", "data", "eval", "styles", "pipeline", "train", "batch", "video", "web", "multiview", "commands", "cli"}
# part -> the parts it may import (besides itself)
ALLOWED = {
    "apdraw": set(),
    "io": set(),
    "config": set(),
    "registry": set(),
    "parts": set(),
    "runtime": set(),
    "persistence": {"config", "io"},
    # components: networks, losses and the classical engine know tensors and arrays, not faces
    "models": BASE,
    "losses": BASE | {"models"},
    "npr": BASE,
    # raster drawing -> polylines -> SVG / G-code (plotters); knows images, not faces
    "vector": BASE,
    # the face pipeline may run a model (the parser mask backend); data preprocessing may run
    # the face pipeline and the NPR engine, and computes the DT loss's targets
    "face": BASE | {"models"},
    "data": BASE | {"face", "npr", "losses", "models"},
    # assembly
    "eval": BASE | {"models"},
    "styles": BASE | {"models", "npr", "face"},
    "pipeline": BASE | {"face", "styles", "vector"},
    "train": BASE | {"data", "models", "losses", "eval", "face", "npr"},
    "batch": BASE,
    "video": BASE | {"face", "styles"},
    # SAGE identities from any viewpoint (`apdraw generate`), and a user's photo fitted and turned (`apdraw views`):
    # the face pipeline finds and frames the face and estimates its pose, the data module defines the training
    # frame (its centre crop) and the pose calibration, the losses score the fit
    "multiview": BASE | {"models", "losses", "face", "data"},
    # `apdraw serve`: a queue and HTTP around the pipeline
    "web": BASE | {"pipeline", "styles", "face", "batch", "vector"},
    # the command line may use everything
    "commands": EVERYTHING,
    "cli": BASE | {"commands"},
    "__main__": {"cli"},
}


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "apdraw"


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.split(".")[0] == "apdraw":
            found.add(_part(node.module))
        elif isinstance(node, ast.Import):
            found |= {_part(a.name) for a in node.names if a.name.split(".")[0] == "apdraw"}
    return found


def test_every_import_respects_the_layers():
    violations = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        part = rel.parts[0].removesuffix(".py") if rel.parts[0] != "__init__.py" else "apdraw"
        assert part in ALLOWED, f"{rel}: a new top-level part; add it to ALLOWED and docs/ARCHITECTURE.md"
        bad = _imports(path) - ALLOWED[part] - {part}
        violations += [f"{rel} imports apdraw.{b}" for b in sorted(bad)]
    assert not violations, "\n".join(violations)
