"""The layout: stages as folders in layers, bottom first; no import runs up the layers or in a circle."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The layers, bottom first (the README's Layout section says the same, in this order). A unit (a package, or a
# module of the base) may import units of lower layers only; the report imports the base and the schema alone (it
# reads records and nothing else). "benchmarks": the command line's own modules (cli, __main__, upgrade_records).
LAYERS = (
    ("benchmarks.atomic", "benchmarks.errors"),
    ("benchmarks.schema",),
    ("archs", "benchmarks.data", "benchmarks.measure"),
    ("benchmarks.train",),
    ("benchmarks.run",),
    ("benchmarks.report",),
    ("benchmarks.commands", "benchmarks"),
)
READS_RECORDS_ONLY = {"benchmarks.report": 2}  # a unit -> the lowest layer it may not import


def module_imports() -> dict[str, set[str]]:
    """Each module of benchmarks/ and archs/ -> the project modules it imports, at any depth of its code (an
    import inside a function counts: a cycle through it is a cycle all the same)."""
    modules = {}
    for package in ("benchmarks", "archs"):
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    edges = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name and not name.startswith(target + "."):
                    edges[name].add(target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                found.append(path[path.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    return found


def unit(module: str) -> str:
    """The unit of LAYERS a module belongs to: the longest that is it or contains it."""
    found = [u for layer in LAYERS for u in layer if module == u or module.startswith(u + ".")]
    assert found, f"{module}: in no layer (add its package to LAYERS and to the README's Layout section)"
    return max(found, key=len)


def layer_of(unit_name: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if unit_name in layer)


def violations(edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Every import (module -> module) that runs up the layers or sideways between units of one layer, and every
    import of the report's beyond the schema."""
    found = []
    for source, targets in sorted(edges.items()):
        a = unit(source)
        for target in sorted(targets):
            b = unit(target)
            if a == b:
                continue
            limit = READS_RECORDS_ONLY.get(a, layer_of(a))
            if layer_of(b) >= limit:
                found.append((source, target))
    return found


def test_the_layer_walk_fails_on_a_planted_back_edge():
    """The real graph with one planted import of each kind the rule forbids: each is found, and nothing else."""
    edges = module_imports()
    assert violations(edges) == []
    planted = {"benchmarks.schema.records": "benchmarks.train.compute",  # up the layers
               "benchmarks.data.fashion_mnist": "benchmarks.measure.machine",  # sideways, within one layer
               "benchmarks.report.summary": "benchmarks.train.compute",  # the report beyond the schema
               "benchmarks.train.harness": "benchmarks.run.one"}  # fmt: skip
    for source, target in planted.items():
        assert violations({**edges, source: edges[source] | {target}}) == [(source, target)]


def test_every_import_runs_down_the_layers():
    """Including imports inside functions: a back-edge there is one all the same."""
    assert violations(module_imports()) == []


def test_the_report_and_the_leaderboard_load_neither_torch_nor_the_registry():
    script = ("import sys, benchmarks.report.leaderboard, benchmarks.report.plots, benchmarks.report.export, "
              "benchmarks.report.compare, benchmarks.commands.leaderboard, benchmarks.commands.plots, "
              "benchmarks.commands.compare; print(sorted(m for m in ('torch', 'archs') if m in sys.modules))")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_walk_finds_a_cycle_where_there_is_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_among_the_projects_modules():
    edges = module_imports()
    assert "benchmarks.run.local" in edges and "benchmarks.run.isolation" in edges["benchmarks.run.local"]
    assert cycles(edges) == []


def test_the_readme_layout_section_names_every_stage_folder_in_layer_order():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    folders = sorted(p.name for p in (ROOT / "benchmarks").iterdir() if p.is_dir() and not p.name.startswith("_"))
    assert folders == ["commands", "data", "measure", "report", "run", "schema", "train"]
    for folder in folders:
        assert f"benchmarks/{folder}/" in section and unit(f"benchmarks.{folder}") == f"benchmarks.{folder}"
    places = [section.index(f"`{u.replace('.', '/')}/`") for layer in LAYERS for u in layer
              if u != "benchmarks" and (ROOT / u.replace(".", "/")).is_dir()]  # fmt: skip
    assert places == sorted(places), "the README lists the stage folders bottom first, as LAYERS does"
