"""The import rules ARCHITECTURE.md states: no cycles, Prefect only in flows/, no heavy import at module level."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYFUNC_MODULES = {"lstm_pipeline.pyfunc_model", "lstm_pipeline.baseline_model"}  # models logged from code
HEAVY = {"tensorflow", "keras", "mlflow", "great_expectations", "statsforecast", "statsmodels", "prefect"}


def modules() -> dict[str, Path]:
    found = {f"lstm_pipeline.{p.stem}": p for p in (ROOT / "src" / "lstm_pipeline").glob("*.py")}
    return found | {f"flows.{p.stem}": p for p in (ROOT / "flows").glob("*.py")}


def project_imports(path: Path, *, at_run_time: bool = False) -> set[str]:
    """Every project module `path` imports, anywhere in it; `at_run_time`: not counting TYPE_CHECKING blocks."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if at_run_time and isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            node.body = []
    deps = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("lstm_pipeline", "flows"):
            if node.module == "lstm_pipeline":
                deps |= {f"lstm_pipeline.{alias.name}" for alias in node.names}
            else:
                deps.add(node.module)
    return deps


def test_no_import_cycles_in_src_or_flows():
    graph = {name: project_imports(path) - {name} for name, path in modules().items()}
    cycles = []

    def visit(name: str, stack: list[str]) -> None:
        for dep in graph.get(name, set()):
            if dep in stack:
                cycles.append(" -> ".join([*stack[stack.index(dep) :], dep]))
            elif len(stack) < len(graph):
                visit(dep, [*stack, dep])

    for name in graph:
        visit(name, [name])
    assert not cycles, cycles[:3]


def test_library_modules_import_no_heavy_library_or_prefect_at_the_top():
    for name, path in modules().items():
        if not name.startswith("lstm_pipeline.") or name in PYFUNC_MODULES:
            continue  # a pyfunc is loaded by MLflow, which has imported mlflow already
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
        names = {(n.module or "").split(".")[0] for n in top if isinstance(n, ast.ImportFrom)}
        names |= {a.name.split(".")[0] for n in top if isinstance(n, ast.Import) for a in n.names}
        assert not names & HEAVY, f"{name} imports {names & HEAVY} at module level"


def test_a_logged_model_bundles_every_module_it_runs_and_nothing_of_the_training_code():
    from lstm_pipeline.logged_model import BASELINE_MODULES, SERVING_MODULES

    found = modules()
    for entry, bundled in (("pyfunc_model", SERVING_MODULES), ("baseline_model", BASELINE_MODULES)):
        closure, todo = set(), [f"lstm_pipeline.{entry}"]
        while todo:
            name = todo.pop()
            if name not in closure:
                closure.add(name)
                todo += project_imports(found[name], at_run_time=True)
        assert closure == {f"lstm_pipeline.{m}" for m in bundled if m != "__init__"}, entry
        assert not closure & {"lstm_pipeline.config", "lstm_pipeline.tracking", "lstm_pipeline.cli"}
