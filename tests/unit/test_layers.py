"""Layers that point one way (issue 20, item 4): db/ ← bot/ ← handlers/.

`db/` (tables, engine, migrations, reference data) imports neither `bot/` nor `handlers/`;
`bot/` (services, the sender and its renderers, the scheduler) imports `db/` but not `handlers/`;
`handlers/` (aiogram routers: what a press or a message does) may import both. The one exception
is the composition root, `bot/app.py`, which hands the dispatcher to `handlers.setup_routers`.

Every import counts, also one inside a function or under `if TYPE_CHECKING:`, a relative one and
`importlib.import_module("...")` with a literal name: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# What each layer may import of our own packages (itself always).
MAY_IMPORT = {
    "db": frozenset(),
    "bot": frozenset({"db"}),
    "handlers": frozenset({"bot", "db"}),
}
# The composition root: the one import of a higher layer allowed, and why.
COMPOSITION_ROOT = {
    ("bot.app", "handlers.setup_routers"): "build_app hands the dispatcher to the routers",
}
# Calls that import a module named by a literal string.
IMPORTERS = ("import_module", "__import__")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[int, str, bool]]:
    """(line, imported module, inside a function) for every import in `tree`."""
    package = module if is_package else module.rpartition(".")[0]
    nested: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            nested.update(id(child) for child in ast.walk(node) if child is not node)
    for node in ast.walk(tree):
        inside = id(node) in nested
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, inside
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                # `from handlers import meetings` names a module; keep the name for the message.
                yield node.lineno, f"{base}.{alias.name}" if base in MAY_IMPORT else base, inside
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and (
                (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                or (isinstance(node.func, ast.Name) and node.func.id in IMPORTERS)
            )
        ):
            yield node.lineno, node.args[0].value, inside


def violations(path: Path, source: str | None = None) -> list[str]:
    module = module_name(path)
    layer = module.split(".")[0]
    tree = ast.parse(source if source is not None else path.read_text(encoding="utf-8"))
    found = []
    for line, target, inside in sorted(imported(tree, module, path.name == "__init__.py")):
        top = target.split(".")[0]
        if top not in MAY_IMPORT or top == layer or top in MAY_IMPORT[layer]:
            continue
        if (module, target) in COMPOSITION_ROOT:
            continue
        where = " (inside a function)" if inside else ""
        found.append(
            f"{path.relative_to(ROOT)}:{line}: {module} imports {target}{where}; "
            f"{layer}/ must not import {top}/"
        )
    return found


def sources() -> list[Path]:
    return sorted(p for layer in MAY_IMPORT for p in (ROOT / layer).rglob("*.py"))


def test_layers_point_one_way() -> None:
    paths = sources()
    assert len(paths) > 50, "the layer check found too few modules to check"
    problems = [problem for path in paths for problem in violations(path)]
    assert not problems, "imports against the layers (db ← bot ← handlers):\n" + "\n".join(
        problems
    )


def test_the_check_sees_every_kind_of_import() -> None:
    """The check itself: a lazy, a relative and an importlib import are all caught."""
    source = """
import handlers.start
from handlers import meetings
def later():
    from handlers.staff_progress import watch_broadcasts
    import importlib
    importlib.import_module("handlers.meetings")
"""
    problems = violations(ROOT / "bot" / "renderers.py", source)
    assert problems == [
        "bot/renderers.py:2: bot.renderers imports handlers.start; bot/ must not import handlers/",
        "bot/renderers.py:3: bot.renderers imports handlers.meetings; bot/ must not import "
        "handlers/",
        "bot/renderers.py:5: bot.renderers imports handlers.staff_progress (inside a function); "
        "bot/ must not import handlers/",
        "bot/renderers.py:7: bot.renderers imports handlers.meetings (inside a function); "
        "bot/ must not import handlers/",
    ]
    relative = violations(ROOT / "db" / "migrations" / "env.py", "from ...bot import settings\n")
    assert len(relative) == 1 and "imports bot.settings;" in relative[0], relative
    upward = "from bot import app\nimport db.models\n"
    assert violations(ROOT / "handlers" / "start.py", upward) == []
    # The composition root may name the routers' entry point, and nothing else of handlers/.
    assert violations(ROOT / "bot" / "app.py", "from handlers import setup_routers\n") == []
    assert violations(ROOT / "bot" / "app.py", "from handlers.routing import Router\n")
