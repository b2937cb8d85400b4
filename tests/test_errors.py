"""Domain refusals and access refusals are different things, and a refusal names its field by name."""
import ast
import re
from pathlib import Path

from engine import EngineError
from engine.errors import RollbackOnly
from handlers.errors import AccessRefused, DomainError, Forbidden, NotFound

HANDLERS = Path(__file__).resolve().parent.parent / "handlers"


def test_not_found_and_forbidden_are_not_domain_errors():
    # a view catching DomainError to show the message never swallows a 404 or a 403
    for cls in (NotFound, Forbidden):
        assert issubclass(cls, AccessRefused) and not issubclass(cls, DomainError)
        assert cls().message


def test_rollback_only_is_an_engine_error_with_a_message_for_the_user():
    assert issubclass(RollbackOnly, EngineError) and "撤销" in RollbackOnly().message


def test_every_literal_field_of_a_domain_error_is_a_field_name():
    """DomainError(message, field): field is a form field's name (ASCII), never a Chinese label."""
    found = []
    for path in sorted(HANDLERS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "DomainError":
                field = node.args[1] if len(node.args) > 1 else next(
                    (k.value for k in node.keywords if k.arg == "field"), None)
                if isinstance(field, ast.Constant):
                    found.append((path.name, node.lineno, field.value))
    assert found, "the scan found no DomainError with a field"
    assert [f for f in found if not re.fullmatch(r"[a-z_]+", f[2])] == []
