"""The layout: stages as folders, and no import cycle among the project's modules."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


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


def test_the_walk_finds_a_cycle_where_there_is_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_among_the_projects_modules():
    edges = module_imports()
    assert "benchmarks.run.suite" in edges and "benchmarks.run.isolation" in edges["benchmarks.run.suite"]
    assert cycles(edges) == []


def test_the_report_imports_neither_the_registry_nor_the_runner():
    """The report reads records: nothing under benchmarks/report imports archs or a module of benchmarks/run."""
    edges = module_imports()
    for name, targets in edges.items():
        if name.startswith("benchmarks.report"):
            assert not {t for t in targets if t == "archs" or t.startswith(("archs.", "benchmarks.run"))}, name


def test_the_readme_layout_section_names_every_stage_folder():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    folders = sorted(p.name for p in (ROOT / "benchmarks").iterdir() if p.is_dir() and not p.name.startswith("_"))
    assert folders == ["commands", "data", "measure", "report", "run", "train"]
    for folder in folders:
        assert f"benchmarks/{folder}/" in section
