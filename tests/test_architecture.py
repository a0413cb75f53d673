"""The tree explains itself (issue 14): layers that import only downwards, no import circles, a purpose
line on every module, no importlib tricks.

Imports are read from the source (every import statement, also those inside functions), so a circle
cannot hide in a function body.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "mailbot"

#: what each layer may import from mailbot (besides itself); the functional core first
LAYERS: dict[str, set[str]] = {
    "errors": set(),
    "paths": set(),
    "people": set(),
    "words": {"errors", "paths"},
    "documents": {"people", "words", "errors", "paths"},
    "store": {"people", "errors"},
    "gate": {"people", "words", "errors", "paths"},
    # loading checks rules/commands.toml (casework.confirm); check-config tests the servers (mail.authcheck)
    "config": {"errors", "paths", "mail", "casework", "config_schema"},
    "config_schema": {"errors", "paths"},
    "logsetup": {"errors", "paths"},
    "casework": {"documents", "people", "words", "errors", "paths", "config"},
    "mail": {"store", "gate", "documents", "people", "words", "errors", "paths", "config", "casework"},
    # the Context owns what coding keeps for the life of the mailbot (documents.part_surface.SurfaceCache)
    "context": {"casework", "mail", "store", "gate", "documents", "people", "config", "errors", "paths"},
    "classify": {"casework", "mail", "context", "config", "errors"},
    "jobs": {"casework", "store", "mail", "context", "documents", "people", "words", "gate", "errors", "paths",
             "config"},
    "handlers": {"classify", "context", "casework", "documents", "people", "words", "store", "mail", "gate",
                 "jobs", "errors", "paths", "config"},
}
#: the shell and the sandbox may import anything
TOP = {"pipeline", "speculate", "daemon", "operations", "cli", "sandbox", "__init__"}


def modules() -> dict[str, Path]:
    out = {}
    for p in PACKAGE.rglob("*.py"):
        rel = p.relative_to(PACKAGE.parent).with_suffix("")
        out[".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)] = p
    return out


def imports(path: Path, names: set[str]) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mailbot"):
            assert node.level == 0, f"{path}: relative import"
            for candidate in [node.module] + [f"{node.module}.{a.name}" for a in node.names]:
                if candidate in names:
                    found.add(candidate)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in names}
    return found


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_module_imports_only_from_the_layers_below_it():
    mods = modules()
    wrong = []
    for name, path in sorted(mods.items()):
        own = layer(name)
        if own in TOP:
            continue
        assert own in LAYERS, f"{name}: a new top-level module or folder: give it a layer in this test"
        for dep in imports(path, set(mods)):
            other = layer(dep)
            if other != own and other not in LAYERS[own] and other != "__init__":
                wrong.append(f"{name} imports {dep}")
    assert not wrong, "\n".join(wrong)


def test_no_import_circles():
    mods = modules()
    graph = {name: {d for d in imports(path, set(mods)) if d != name} for name, path in mods.items()}
    # a package's __init__ importing its own submodules is how a package exposes them, not a circle
    for name in graph:
        graph[name] = {d for d in graph[name] if not (name.startswith(d + ".") and d in mods)}
    state: dict[str, int] = {}
    circles = []

    def visit(node, trail):
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                circles.append(" -> ".join(trail[trail.index(dep):] + [dep]))
            elif dep not in state:
                visit(dep, trail + [dep])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not circles, "\n".join(circles)


def test_every_module_says_its_purpose_in_its_first_line():
    missing = []
    for name, path in sorted(modules().items()):
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
        if not doc or len(doc.splitlines()[0].strip()) < 12:
            missing.append(name)
    assert not missing, missing


def test_no_importlib_tricks():
    tricks = ("import_module(", "__import__(", "importlib.reload")
    users = [name for name, path in modules().items() if any(t in path.read_text(encoding="utf-8") for t in tricks)]
    assert not users, users
