"""The layout keeps its shape: rooms by flow, imports pointing one way, small modules.

README "Design": replies -> routing -> events -> messaging -> base, with agents, the
sandbox and the NLU commands above replies and the process (app factory, composition
root, CLI) above everything. `integrations/` and `routing_adapter/` know nothing of
`bot/`. A change that breaks one of these rules fails here, naming the import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BOT = ROOT / "bot"

# How high each room sits: a module may import its own room and any room below it.
RANK = {
    "base": 0,
    "config": 0,  # settings: a leaf every room may read
    "web": 0,  # where the static pages live
    "messaging": 1,
    "events": 2,
    "routing": 3,
    "replies": 4,
    "agents": 5,
    "nlu": 5,
    "tracking": 5,
    "sandbox": 6,
}
PROCESS = 7  # bot/app.py, services.py, cli.py, devrun.py, ops.py


def room_of(module: str) -> str:
    """'bot.replies.inbound' -> 'replies'; 'bot.app' -> 'app'."""
    return module.split(".")[1]


def rank_of(module: str) -> int:
    return RANK.get(room_of(module), PROCESS)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[str]:
    """Every module `path` imports, at the top or inside a function."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            found += [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
    return found


def ours(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def test_bot_has_few_top_level_modules() -> None:
    top = sorted(p.name for p in BOT.glob("*.py"))
    assert len(top) <= 8, top


def test_no_module_is_over_400_lines() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for folder in ("bot", "integrations", "routing_adapter")
        for p in ours(folder)
        if (n := len(p.read_text().splitlines())) > 400
    }
    assert not long


def test_every_package_says_what_lives_there() -> None:
    silent = [
        str(p.relative_to(ROOT))
        for p in BOT.rglob("__init__.py")
        if not (ast.get_docstring(ast.parse(p.read_text())) or "").strip()
    ]
    assert not silent


def test_imports_point_down_the_flows() -> None:
    upward = []
    for path in ours("bot"):
        name = module_name(path)
        if name == "bot":
            continue
        mine = rank_of(name)
        for target in imports(path):
            is_bot_module = target.startswith("bot.") and (
                (ROOT / target.replace(".", "/")).with_suffix(".py").exists()
                or (ROOT / target.replace(".", "/")).is_dir()
            )
            if not is_bot_module or room_of(target) == room_of(name):
                continue
            if rank_of(target) > mine:
                upward.append(f"{name} imports {target}")
    assert not upward


@pytest.mark.parametrize("folder", ["integrations", "routing_adapter"])
def test_adapters_know_nothing_of_the_service(folder: str) -> None:
    reaching = [
        f"{module_name(p)} imports {t}"
        for p in ours(folder)
        for t in imports(p)
        if t == "bot" or t.startswith("bot.")
    ]
    assert not reaching
