"""Imports point one way: webui -> handlers -> engine (architecture.md)."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imported_modules(path: Path) -> set[str]:
    """Every module a file imports, and ``package.name`` for each ``from package import name``
    (so ``from engine import db`` counts as importing engine.db)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _violations(package: str, forbidden: tuple[str, ...]) -> list[str]:
    """Imports of a forbidden package or module (``engine.db`` forbids it and its submodules)."""
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no modules found under {package}/"
    return [f"{path.relative_to(ROOT)} imports {name}"
            for path in files for name in sorted(_imported_modules(path))
            if any(name == f or name.startswith(f + ".") for f in forbidden)]


def test_engine_imports_neither_handlers_nor_webui():
    assert _violations("engine", ("handlers", "webui")) == []


def test_handlers_do_not_import_webui():
    assert _violations("handlers", ("webui",)) == []


def test_webui_reaches_the_database_only_through_handlers():
    """No queries or sessions in views: the webui imports neither engine.models nor engine.db."""
    assert _violations("webui", ("engine.models", "engine.db")) == []


def test_the_scan_would_catch_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import handlers.models\nfrom webui import create_app\nfrom .db import db\n"
                   "from engine import db\n")
    assert _imported_modules(bad) == {"handlers.models", "webui", "webui.create_app", "engine", "engine.db"}
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "view.py").write_text("from engine.models import ProcessInstance\nfrom engine.dbx import y\n")
    global ROOT
    root, ROOT = ROOT, tmp_path
    try:
        assert _violations("pkg", ("engine.models", "engine.db")) == ["pkg/view.py imports engine.models",
                                                                       "pkg/view.py imports engine.models.ProcessInstance"]
    finally:
        ROOT = root
