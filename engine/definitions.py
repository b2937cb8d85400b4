"""Deployed process definitions: versions by content hash, validated, parsed once."""
import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import bindparam, func, select

from . import store
from .db import db, unit_of_work
from .errors import DefinitionError, DefinitionNotFound
from .models import ProcessDefinition
from .registry import EngineRegistry
from .forms import load_directory
from .validation import FormFiles, ParsedDefinition, check_bpmn, parse_bpmn

_SPEC_CACHE: dict[str, ParsedDefinition] = {}
# built once: every start asks for it
_LATEST = (select(ProcessDefinition).where(ProcessDefinition.process_key == bindparam("p_key"))
           .order_by(ProcessDefinition.version.desc()).limit(1))
_SPEC_LOCK = threading.Lock()


def form_files(directory: Path) -> FormFiles:
    specs, problems = load_directory(Path(directory))
    return FormFiles(specs, problems)


@dataclass(frozen=True)
class CurrentVersion:
    """The newest deployed version of a process as last seen by this worker (checked at use)."""
    id: int
    version: int
    content_hash: str
    parsed: ParsedDefinition


@dataclass
class DeployReport:
    deployed: list[ProcessDefinition]
    unchanged: list[str]
    refused: list[DefinitionError]


class DefinitionStore:
    def __init__(self, registry: EngineRegistry):
        self.registry = registry
        # process key -> CurrentVersion; a start checks it in its insert (engine.store.insert_instance)
        self._current: dict[str, CurrentVersion] = {}

    def check_file(self, path: Path) -> list[DefinitionError]:
        return check_bpmn(path.read_bytes(), path.name, self.registry, form_files(path.parent))

    def deploy_directory(self, directory: Path) -> DeployReport:
        """Deploy every file of a directory in one unit of work; refused files are reported."""
        report = DeployReport([], [], [])
        forms = form_files(directory)
        with unit_of_work():
            for path in sorted(Path(directory).glob("*.bpmn")):
                xml = path.read_bytes()
                try:
                    parsed = parse_bpmn(xml, path.name, self.registry, forms)   # a refusal leaves the unit untouched
                except DefinitionError as exc:
                    report.refused.append(exc)
                    continue
                self._register_forms(parsed, forms)
                definition, created = self._store(parsed, xml, path.name)
                (report.deployed.append(definition) if created else report.unchanged.append(path.name))
        return report

    def deploy(self, xml: bytes, filename: str, forms: FormFiles | None = None) -> tuple[ProcessDefinition, bool]:
        """Store a new version unless this exact content is already deployed.

        A refused file raises DefinitionError and leaves the last good version serving. The
        form files the diagram uses are registered with the engine (forms are keyed globally).
        """
        parsed = parse_bpmn(xml, filename, self.registry, forms)
        self._register_forms(parsed, forms)
        with unit_of_work():   # joins the caller's, or commits the new version itself
            return self._store(parsed, xml, filename)

    def _store(self, parsed: ParsedDefinition, xml: bytes, filename: str) -> tuple[ProcessDefinition, bool]:
        content_hash = hashlib.sha256(xml).hexdigest()
        existing = db.session.scalar(select(ProcessDefinition).where(
            ProcessDefinition.process_key == parsed.process_key,
            ProcessDefinition.content_hash == content_hash))
        if existing is not None:
            return existing, False
        latest = db.session.scalar(select(func.max(ProcessDefinition.version)).where(
            ProcessDefinition.process_key == parsed.process_key)) or 0
        definition = ProcessDefinition(
            process_key=parsed.process_key, name=parsed.name, version=latest + 1,
            content_hash=content_hash, source_file=filename, xml=xml.decode("utf-8"))
        db.session.add(definition)
        db.session.flush()
        self.forget(parsed.process_key)
        with _SPEC_LOCK:
            _SPEC_CACHE[content_hash] = parsed
        return definition, True

    def _register_forms(self, parsed: ParsedDefinition, forms: FormFiles | None) -> None:
        if not forms:
            return
        for task_spec in parsed.spec.task_specs.values():
            key = ((getattr(task_spec, "extensions", None) or {}).get("properties") or {}).get("formKey")
            if key in forms.specs:
                self.registry.forms[key] = forms.specs[key]

    def load_forms(self, directory: Path) -> FormFiles:
        """Register every good form file of a diagram directory (at start-up, before any deploy)."""
        forms = form_files(directory)
        self.registry.forms.update(forms.specs)
        return forms

    def latest(self, process_key: str) -> ProcessDefinition:
        definition = db.session.scalar(_LATEST, {"p_key": process_key})
        if definition is None:
            raise DefinitionNotFound(f"流程 “{process_key}” 尚未部署")
        return definition

    def current(self, process_key: str) -> CurrentVersion:
        """The version new instances start on, without a query when this worker has seen it."""
        cached = self._current.get(process_key)
        if cached is None:
            latest = self.latest(process_key)   # once per process and worker: the ORM load is fine here
            cached = CurrentVersion(latest.id, latest.version, latest.content_hash,
                                    self.parsed_by_hash(latest.content_hash))
            self._current[process_key] = cached
        return cached

    def forget(self, process_key: str) -> None:
        """Another worker deployed a newer version (or the database changed): look again next time."""
        self._current.pop(process_key, None)

    def parsed_by_hash(self, content_hash: str) -> ParsedDefinition:
        """The parsed spec of a stored version, parsed once per process."""
        cached = _SPEC_CACHE.get(content_hash)
        if cached is None:
            row = store.definition_xml(db.session.connection(), content_hash)
            if row is None:
                raise DefinitionNotFound("流程定义版本不存在")
            cached = parse_bpmn(row.xml.encode("utf-8"), row.source_file, None)
            with _SPEC_LOCK:
                _SPEC_CACHE[content_hash] = cached
        return cached

    def versions(self) -> list[ProcessDefinition]:
        return list(db.session.scalars(select(ProcessDefinition).order_by(
            ProcessDefinition.process_key, ProcessDefinition.version)))
