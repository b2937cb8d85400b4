"""Imports point one way: webui -> handlers -> engine (architecture.md)."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def _violations(package: str, forbidden: tuple[str, ...]) -> list[str]:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no modules found under {package}/"
    return [f"{path.relative_to(ROOT)} imports {name}"
            for path in files for name in sorted(_imported_modules(path))
            if name.split(".")[0] in forbidden]


def test_engine_imports_neither_handlers_nor_webui():
    assert _violations("engine", ("handlers", "webui")) == []


def test_handlers_do_not_import_webui():
    assert _violations("handlers", ("webui",)) == []


def test_the_scan_would_catch_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import handlers.models\nfrom webui import create_app\nfrom .db import db\n")
    assert _imported_modules(bad) == {"handlers.models", "webui"}
