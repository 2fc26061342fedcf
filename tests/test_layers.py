"""The import contract: packages import downward only (docs/architecture.md).

An AST scan of every module under src/sensorimotor: each ``import sensorimotor.x`` /
``from sensorimotor.x import ...`` (at any depth, lazy imports inside functions included) and each
lazy registry target string ``"sensorimotor.x.y:Name"`` must point to a lower layer, to the same
package, or along one of the few sibling arrows listed here.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "sensorimotor"

#: Top to bottom. A package may import any package in a lower layer.
LAYERS: list[tuple[str, set[str]]] = [
    ("apps", {"cli", "explorer", "__main__"}),
    ("train", {"train"}),
    ("models", {"agents", "policies", "worldmodels", "sequence", "vla"}),
    ("learners", {"learners"}),
    ("world", {"robots", "sim", "data"}),
    ("nn", {"nn"}),
    ("core", {"core", "configs"}),
]

#: Imports between siblings of one layer that are allowed (importer, imported); all others fail.
SIBLING_ARROWS = {
    ("__main__", "cli"),  # python -m sensorimotor
    ("cli", "explorer"),  # `sensorimotor explore` and `diagnose` run the app and its checks
    ("agents", "policies"),  # agents are built from policies, never the reverse
    ("robots", "sim"),  # the MuJoCo and dm_control robots run simulations
    ("robots", "data"),
}

_TARGET = re.compile(r"^sensorimotor\.(\w+)(\.[\w.]+)?:\w+$")


def _rank(package: str) -> int:
    for rank, (_, members) in enumerate(LAYERS):
        if package in members:
            return rank
    raise AssertionError(
        f"package sensorimotor.{package} is in no layer; add it to LAYERS in tests/test_layers.py "
        "and to docs/architecture.md"
    )


def _package_of(path: Path, root: Path = SRC) -> str | None:
    parts = path.relative_to(root).parts
    if len(parts) == 1:
        return None if parts[0] == "__init__.py" else parts[0].removesuffix(".py")
    return parts[0]


def imported_packages(source: str) -> Iterator[tuple[int, str]]:
    """(line, package) of every sensorimotor package a module's source refers to."""
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = _TARGET.match(node.value)
            if match:
                yield node.lineno, match.group(1)
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "sensorimotor" and len(parts) > 1:
                yield node.lineno, parts[1]


def violations(root: Path = SRC) -> list[str]:
    """Every upward or sideways import under ``root`` as 'file:line: a -> b (why)'."""
    found = []
    for path in sorted(root.rglob("*.py")):
        importer = _package_of(path, root)
        if importer is None:
            continue
        for line, imported in imported_packages(path.read_text()):
            if imported == importer:
                continue
            low, high = _rank(importer), _rank(imported)
            where = f"{path.relative_to(root.parent)}:{line}: {importer} -> {imported}"
            if high < low:
                found.append(f"{where} (upward: {LAYERS[high][0]} is above {LAYERS[low][0]})")
            elif high == low and (importer, imported) not in SIBLING_ARROWS:
                found.append(f"{where} (sideways within {LAYERS[low][0]}; not an allowed arrow)")
    return found


def test_imports_point_downward_only() -> None:
    assert violations() == []


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "sensorimotor"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.mark.parametrize(
    ("importer", "statement"),
    [
        ("sim/robot.py", "from sensorimotor.robots.interface import Robot"),  # sim -> robots
        ("policies/base.py", "from sensorimotor.agents.bc import BC"),  # policies -> agents
        ("policies/__init__.py", 'F = {"bc": "sensorimotor.agents.bc:BC"}'),  # via a registry
        ("data/clips/x.py", "import sensorimotor.sim.scenes"),  # data -> sim
        ("data/clips/x.py", "from sensorimotor.sequence.models import M"),  # data -> models
        ("nn/mlp.py", "def f():\n    from sensorimotor.robots import interface"),  # lazy too
        ("core/config.py", "from sensorimotor.nn import mlp"),
        ("worldmodels/model.py", "from sensorimotor.train.canvas import run"),
        ("learners/base.py", "from sensorimotor.policies.base import Policy"),
        ("worldmodels/x.py", "from sensorimotor.sequence.models import M"),  # sideways
    ],
)
def test_each_cycle_fails(tmp_path: Path, importer: str, statement: str) -> None:
    root = _tree(tmp_path, {importer: statement + "\n"})
    (found,) = violations(root)
    assert importer in found


def test_downward_and_allowed_sideways_imports_pass(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "robots/mujoco.py": "from sensorimotor.sim.scenes import load_model\n",
            "agents/sac.py": "from sensorimotor.policies.gaussian import G\n",
            "cli/run.py": "import sensorimotor.train.canvas\n",
            "worldmodels/model.py": "from sensorimotor.robots.interface import Robot\n",
        },
    )
    assert violations(root) == []
