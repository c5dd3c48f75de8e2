"""The package's shape: the training loop names no model, loss, stabilizer or data kind, and imports form no cycle."""
from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "gan_runner"


def imports_of(path: Path, *, top_level_only: bool = False) -> set[str]:
    """gan_runner modules a file imports (`from gan_runner.x import y` counts as gan_runner.x and gan_runner.x.y)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("gan_runner"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gan_runner"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_the_training_loop_imports_no_model_loss_stabilizer_or_data_kind():
    imported = {m for m in imports_of(PACKAGE / "training" / "trainer.py") if (REPO / Path(*m.split("."))).with_suffix(".py").exists()
                or (REPO / Path(*m.split("."))).is_dir()}
    allowed_interfaces = {"gan_runner.models.base", "gan_runner.losses.base", "gan_runner.data.base"}
    for prefix in ("gan_runner.models", "gan_runner.losses", "gan_runner.stabilizers", "gan_runner.data", "gan_runner.metrics"):
        bad = sorted(m for m in imported if (m == prefix or m.startswith(prefix + ".")) and m not in allowed_interfaces)
        assert not bad, f"training/trainer.py imports {bad}"
    source = (PACKAGE / "training" / "trainer.py").read_text()
    for word in ("is_image", "unroll", "n_critic == 1", "d_regularizer", "stream.data"):
        assert word not in source, f"training/trainer.py mentions {word!r}"


def test_module_level_imports_form_no_cycle():
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {m: {d for d in imports_of(p, top_level_only=True) if d in modules and d != m} for m, p in modules.items()}
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                cycle = path[path.index(d):] + [d] if d in path else [m, d]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if d not in state:
                visit(d, path + [d])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])


# The layer order ARCHITECTURE.md draws: a unit (a top-level module or subpackage of gan_runner) imports only units
# of a lower layer, at module level or inside a function; imports under `if TYPE_CHECKING:` are types, not imports.
LAYERS: list[set[str]] = [
    {"errors", "atomic", "progress", "stats", "sweep_keys", "sweep_objective"},
    {"registry", "devices", "memory_budget", "checkpoint", "ema"},
    {"config_schema"},
    {"data"},
    {"models"},
    {"losses"},
    {"optim", "stabilizers", "generation"},
    {"metrics"},
    {"training"},
    {"plugins"},
    {"run", "report_plot"},
    {"reporting"},
    {"cli", "gan_runner"},  # "gan_runner": the package's public facade (gan_runner/__init__.py)
]


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "gan_runner"


def _runtime_imports(path: Path) -> list[tuple[str, int]]:
    """(gan_runner module, line) of every import a file runs, wherever it is, except `if TYPE_CHECKING:` blocks."""
    tree = ast.parse(path.read_text())
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for child in node.body for n in ast.walk(child))
    found = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names if a.name.startswith("gan_runner")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gan_runner"):
            names = [f"gan_runner.{a.name}" for a in node.names] if node.module == "gan_runner" else [node.module]
            found += [(n, node.lineno) for n in names]
    return found


def test_layers_only_point_down():
    rank = {unit: i for i, layer in enumerate(LAYERS) for unit in layer}
    units = {_unit(module_name(p)) for p in PACKAGE.rglob("*.py")}
    assert units <= set(rank), f"units missing from the layer table: {sorted(units - set(rank))}"
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        src = _unit(module_name(path))
        for target, line in _runtime_imports(path):
            dst = _unit(target)
            if dst != src and rank[dst] >= rank[src]:
                upward.append(f"{path.relative_to(REPO)}:{line} ({src}, layer {rank[src]}) imports {target} (layer {rank[dst]})")
    assert not upward, "imports that do not point down:\n" + "\n".join(upward)
