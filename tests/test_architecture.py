"""The layer order of docs/ARCHITECTURE.md, kept by the import contracts in pyproject.toml.

``[tool.importlinter]`` holds the contracts (layers, no cycles between siblings, private modules, Ultralytics only
in model/ultra.py, figures draw, analysis computes) with every known violation listed as a commented
``ignore_imports`` entry; import-linter fails an entry that no longer matches, so a fixed violation must be
removed from the list. The checks below that import-linter has no contract for use grimp and ``ast``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "yololens"
MAX_LINES = 400  # "small modules": docs/ARCHITECTURE.md


def _lint(config: Path) -> tuple[bool, str]:
    """Run import-linter on ``config`` as ``lint-imports`` does; (passed, its report text)."""
    from importlinter import configuration
    from importlinter.application import output
    from importlinter.application.use_cases import lint_imports

    configuration.configure()
    with output.console.capture() as captured:
        ok = lint_imports(config_filename=str(config), no_logo=True, cache_dir=None)
    return ok, captured.get()


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("yololens", include_external_packages=True, cache_dir=None)


def test_import_contracts_hold():
    """Every contract in pyproject.toml is kept; a broken one fails with the violating imports listed."""
    ok, text = _lint(ROOT / "pyproject.toml")
    assert ok, "import contracts broken:\n" + text[text.find("Broken contracts"):]
    assert "Contracts: 6 kept, 0 broken." in text, text  # all six contracts were read and run


def test_contracts_catch_an_upward_import(tmp_path, monkeypatch):
    """The layers contract is live: the same configuration fails on a package that imports upwards."""
    pkg = tmp_path / "archprobe"
    for sub in ("cli", "engine"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "engine" / "run.py").write_text("from archprobe.cli import main\n")
    (pkg / "cli" / "main.py").write_text("")
    cfg = tmp_path / "setup.cfg"
    cfg.write_text("[importlinter]\nroot_package = archprobe\n\n[importlinter:contract:layers]\nname = layers\n"
                   "type = layers\ncontainers = archprobe\nlayers =\n    cli\n    engine\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    ok, text = _lint(cfg)
    assert not ok
    assert "archprobe.engine.run -> archprobe.cli" in text


def test_ultralytics_is_imported_only_in_model_ultra(graph):
    importers = graph.find_modules_that_directly_import("ultralytics")
    assert importers == {"yololens.model.ultra"}, sorted(importers)


def _private_name_imports(package: Path = PACKAGE) -> list[str]:
    """``from yololens.a.b import _name`` where the importer is outside package ``yololens.a``."""
    found = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        importer = ".".join(parts)
        importer_pkg = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.ImportFrom) or not node.module or not node.module.startswith("yololens"):
                continue
            owner = node.module.rpartition(".")[0] or node.module  # the package that holds the module
            for alias in node.names:
                private = alias.name.startswith("_") and not alias.name.startswith("__")
                if private and not (importer_pkg + ".").startswith(owner + "."):
                    found.append(f"{importer} (l.{node.lineno}): from {node.module} import {alias.name}")
    return found


def test_no_private_names_imported_across_packages():
    assert _private_name_imports() == []


def test_private_name_scan_finds_one(tmp_path):
    """The scan above is live: a cross-package private import is reported, a same-package one is not."""
    (tmp_path / "yololens" / "cli").mkdir(parents=True)
    (tmp_path / "yololens" / "figures").mkdir()
    (tmp_path / "yololens" / "cli" / "cmd.py").write_text("from yololens.figures.scatter import _point_size\n")
    (tmp_path / "yololens" / "figures" / "own.py").write_text("from yololens.figures.scatter import _point_size\n")
    assert _private_name_imports(tmp_path / "yololens") == [
        "yololens.cli.cmd (l.1): from yololens.figures.scatter import _point_size"]


def test_no_import_cycles_between_top_level_packages(graph):
    """Independent of the ignore lists: no two top-level packages import each other (the coefficients job
    that once lived in seg/ made the last cycles; it is in jobs/ now)."""
    top = sorted(m for m in graph.find_children("yololens") if graph.find_children(m))
    cycles = []
    for a in top:
        for b in top:
            if a < b and graph.chain_exists(a, b, as_packages=True) and graph.chain_exists(b, a, as_packages=True):
                chain = graph.find_shortest_chain(b, a, as_packages=True)
                cycles.append(f"{a} <-> {b} via {' -> '.join(chain)}")
    assert cycles == []


def test_modules_are_small():
    long = {str(p.relative_to(ROOT)): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}
