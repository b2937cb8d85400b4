"""Deployed process definitions: versions as bundles (engine.bundles), validated, parsed once.

A version is a bundle stored in the database: the diagram (``process_definition.xml``) and its
files (``definition_file``: the forms it names, the scenarios), each with its sha256, with who
deployed it, when, and the change note. Commands (each one unit of work):

- ``deploy_bundle(bundle, note=, deployed_by=)``: validate and store a new version (or report
  the same content as unchanged); bumps the ``definitions`` generation (engine.generations) so
  every process of every host serves it from its next request;
- ``deploy_directory(dir, note=)`` / ``deploy(xml, filename, forms)``: the same from files;
- ``bundle(process_key, version)``: a stored version as a Bundle (export, zip, drafts);
- ``forms_by_hash(content_hash)`` / ``form_of_instance(instance_id, key)``: the forms a running
  instance uses, from its own version's bundle;
- ``refresh()``: the per-request generation check (one statement).
"""
import threading
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import bindparam, func, select

from . import store
from . import generations
from .bundles import FORM_PREFIX, Bundle, form_keys, form_uses
from .db import db, read_values, unit_of_work
from .errors import DefinitionError, DefinitionNotFound
from .forms import FormSpec, load_directory
from .models import DefinitionFile, ProcessDefinition, ProcessInstance
from .registry import EngineRegistry
from .validation import FormFiles, ParsedDefinition, check_bpmn, parse_bpmn
from .diagram_checks import check_drawing

FOLDER_NOTE = "从 bpmn/ 目录部署"   # the change note of a folder deploy that names none
# Per-process caches (engine.generations): ``_current`` of each store follows the ``definitions``
# generation; these two are keyed by a deployed bundle's content hash, which never changes, and
# need none. content hash -> the parsed diagram
_SPEC_CACHE: dict[str, ParsedDefinition] = {}
# content hash -> {form key: FormSpec}: a deployed bundle never changes, so neither does this
_FORMS_CACHE: dict[str, dict[str, FormSpec]] = {}
_BUNDLE_FORMS = (select(DefinitionFile.name, DefinitionFile.content)
                 .join(ProcessDefinition, ProcessDefinition.id == DefinitionFile.definition_id)
                 .where(ProcessDefinition.content_hash == bindparam("p_hash"),
                        DefinitionFile.name.startswith(FORM_PREFIX)))
_VERSION_MEMO = "instance_version_hash"


def instance_version_hash(instance_id: int) -> str | None:
    """The content hash of the version an instance runs on, read once per transaction: a page
    asks for the task's form and the application's form of the same version (a migration, which
    moves an instance to another version, forgets what its transaction read: ``forget_version``)."""
    hashes = _versions_read()
    if instance_id not in hashes:
        hashes[instance_id] = read_values(_INSTANCE_HASH, {"p_id": instance_id}).scalar()
    return hashes[instance_id]


def know_version(instance_id: int, content_hash: str | None) -> None:
    """The version hash of an instance as another statement of this transaction read it with its own
    row (a review task with its instance's version, ``version_of_task``): not read again."""
    _versions_read()[instance_id] = content_hash


def version_of_task(task):
    """A column of the content hash of the version ``task``'s instance runs on, for a statement that
    reads the task (``task``: HumanTask or its table) to carry (``know_version``)."""
    pi, pd = ProcessInstance.__table__, ProcessDefinition.__table__
    return (select(pd.c.content_hash).join(pi, pi.c.definition_id == pd.c.id)
            .where(pi.c.id == task.instance_id).scalar_subquery().label("version_hash"))


def _versions_read() -> dict:
    session = db.session()
    txn = session.get_transaction()
    memo = session.info.get(_VERSION_MEMO)
    if memo is None or memo[0] is not txn:
        memo = session.info[_VERSION_MEMO] = (txn, {})
    return memo[1]


def forget_version(instance_id: int) -> None:
    memo = db.session().info.get(_VERSION_MEMO)
    if memo is not None:
        memo[1].pop(instance_id, None)


_INSTANCE_HASH = (select(ProcessDefinition.__table__.c.content_hash)
                  .join(ProcessInstance.__table__,
                        ProcessInstance.__table__.c.definition_id == ProcessDefinition.__table__.c.id)
                  .where(ProcessInstance.__table__.c.id == bindparam("p_id")))   # run as Core
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


@dataclass(frozen=True)
class Deployment:
    """Who deploys and why: recorded on the version."""
    note: str
    deployed_by: str
    user_id: int | None = None


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
        self.watch = generations.GenerationWatch()
        self.watch.on_change(generations.DEFINITIONS, self._current.clear)

    def refresh(self, carried: str | None = None, read: bool = True) -> None:
        """Once per request: drop the current versions if any process deployed since (one statement,
        or none when another statement of the request carried the generations: ``generations.carried``)."""
        self.watch.check(carried, read)

    # -- checking -------------------------------------------------------------------
    def check_file(self, path: Path) -> list[DefinitionError]:
        """A diagram with the forms beside it (``forms/``), or else the form files the engine knows."""
        return self.check_bundle(self.with_known_forms(Bundle.from_directory(path.parent, path.name)))

    def with_known_forms(self, bundle: Bundle, known: dict | None = None) -> Bundle:
        """The bundle plus the form files it names but lacks, from ``known`` (FormSpecs by key;
        default: those registered with the engine), so that the version carries them."""
        known = self.registry.forms if known is None else known
        files = dict(bundle.files)
        for key in form_keys(bundle.xml):
            name, spec = f"{FORM_PREFIX}{key}.json", known.get(key)
            if name not in files and isinstance(spec, FormSpec) and spec.raw:
                files[name] = spec.raw.encode("utf-8")
        return Bundle(bundle.diagram_name, bundle.xml, files)

    def check_bundle(self, bundle: Bundle) -> list[DefinitionError]:
        """Every problem of a bundle: the deploy validator and the drawing checks (engine.diagram_checks)."""
        forms = bundle.form_files()
        errors = check_bpmn(bundle.xml, bundle.diagram_name, self.registry, forms)
        return errors + self._outside_bundle(bundle, forms) + check_drawing(bundle.xml, bundle.diagram_name)

    def _validated(self, bundle: Bundle) -> ParsedDefinition:
        forms = bundle.form_files()
        parsed = parse_bpmn(bundle.xml, bundle.diagram_name, self.registry, forms)
        later = self._outside_bundle(bundle, forms) + check_drawing(bundle.xml, bundle.diagram_name)
        if later:
            raise later[0]
        return parsed

    def _outside_bundle(self, bundle: Bundle, forms: FormFiles) -> list[DefinitionError]:
        """A form file the engine knows but the bundle lacks: a running instance reads its forms
        from its own bundle only, so the file must travel with the diagram."""
        return [DefinitionError(bundle.diagram_name, task_id, f"表单 “{key}” 不在部署包中（缺少 {FORM_PREFIX}{key}.json）")
                for task_id, key in form_uses(bundle.xml)
                if key not in forms.specs and f"{key}.json" not in forms.problems
                and isinstance(self.registry.forms.get(key), FormSpec)]

    # -- deploying ------------------------------------------------------------------
    def deploy_directory(self, directory: Path, deployment: Deployment | None = None) -> DeployReport:
        """Deploy every diagram of a folder laid out as bpmn/ in one unit of work; refused files are reported."""
        deployment = deployment or Deployment(FOLDER_NOTE, "flask bpmn deploy")
        report = DeployReport([], [], [])
        with unit_of_work():
            for path in sorted(Path(directory).glob("*.bpmn")):
                bundle = self.with_known_forms(Bundle.from_directory(directory, path.name))
                try:
                    definition, created = self.deploy_bundle(bundle, deployment)
                except DefinitionError as exc:   # a refusal leaves the unit untouched
                    report.refused.append(exc)
                    continue
                (report.deployed.append(definition) if created else report.unchanged.append(path.name))
        return report

    def deploy(self, xml: bytes, filename: str, forms: FormFiles | None = None,
               deployment: Deployment | None = None) -> tuple[ProcessDefinition, bool]:
        """Store a diagram as a new version unless this exact bundle is already deployed.

        Its bundle takes the forms the diagram names from ``forms`` or, without, from the form
        files this engine has registered. A refused file raises DefinitionError and leaves the
        last good version serving.
        """
        if forms is not None and forms.problems:
            parse_bpmn(xml, filename, self.registry, forms)   # names the bad form file
        bundle = self.with_known_forms(Bundle(filename, xml), forms.specs if forms is not None else None)
        return self.deploy_bundle(bundle, deployment or Deployment(FOLDER_NOTE, "flask bpmn deploy"))

    def deploy_bundle(self, bundle: Bundle, deployment: Deployment) -> tuple[ProcessDefinition, bool]:
        """Validate and store a bundle as the process's next version (one unit of work)."""
        if not (deployment.note or "").strip():
            raise DefinitionError(bundle.diagram_name, None, "请填写变更说明")
        parsed = self._validated(bundle)
        with unit_of_work():   # joins the caller's, or commits the new version itself
            return self._store(parsed, bundle, deployment)

    def _store(self, parsed: ParsedDefinition, bundle: Bundle,
               deployment: Deployment) -> tuple[ProcessDefinition, bool]:
        content_hash = bundle.hash
        existing = db.session.scalar(select(ProcessDefinition).where(
            ProcessDefinition.process_key == parsed.process_key,
            ProcessDefinition.content_hash == content_hash))
        if existing is not None:
            return existing, False
        latest = db.session.scalar(select(func.max(ProcessDefinition.version)).where(
            ProcessDefinition.process_key == parsed.process_key)) or 0
        definition = ProcessDefinition(
            process_key=parsed.process_key, name=parsed.name, version=latest + 1,
            content_hash=content_hash, source_file=bundle.diagram_name, xml=bundle.xml.decode("utf-8"),
            diagram_hash=bundle.diagram_hash, deployed_by=deployment.deployed_by[:100],
            deployed_by_user_id=deployment.user_id, note=deployment.note.strip())
        db.session.add(definition)
        db.session.flush()
        for name, digest in bundle.file_hashes.items():
            db.session.add(DefinitionFile(definition_id=definition.id, name=name, sha256=digest,
                                          content=bundle.files[name].decode("utf-8")))
        generations.bump(generations.DEFINITIONS)
        self.forget(parsed.process_key)
        with _SPEC_LOCK:
            _SPEC_CACHE[content_hash] = parsed
        return definition, True

    def load_forms(self, directory: Path) -> FormFiles:
        """Register every good form file of a diagram directory: what ``deploy(xml, filename)``
        bundles when it is given no forms. Running instances never read these (forms_by_hash)."""
        forms = form_files(directory)
        self.registry.forms.update(forms.specs)
        return forms

    # -- reading --------------------------------------------------------------------
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

    def forms_by_hash(self, content_hash: str) -> dict[str, FormSpec]:
        """The forms of a stored version's bundle by key, read once per process (bundles never change)."""
        cached = _FORMS_CACHE.get(content_hash)
        if cached is None:
            rows = db.session.connection().execute(_BUNDLE_FORMS, {"p_hash": content_hash}).all()
            cached = Bundle("", b"", {r.name: r.content.encode("utf-8") for r in rows}).form_files().specs
            with _SPEC_LOCK:
                _FORMS_CACHE[content_hash] = cached
        return cached

    def form(self, content_hash: str, key: str):
        """A form of a version: from its bundle; a validator registered in code otherwise (versions
        deployed before bundles, engines built in tests)."""
        return self.forms_by_hash(content_hash).get(key) or self.registry.forms.get(key)

    def form_of_instance(self, instance_id: int, key: str):
        content_hash = instance_version_hash(instance_id)
        return self.form(content_hash, key) if content_hash else None

    def current_form(self, process_key: str, key: str):
        """A form of the version new instances start on (a new application's fields)."""
        try:
            return self.form(self.current(process_key).content_hash, key)
        except DefinitionNotFound:
            return self.registry.forms.get(key)

    def bundle(self, process_key: str, version: int | None = None) -> Bundle:
        """A stored version (the newest without ``version``) as a Bundle: export, zip, a new draft."""
        definition = self.latest(process_key) if version is None else db.session.scalar(
            select(ProcessDefinition).where(ProcessDefinition.process_key == process_key,
                                            ProcessDefinition.version == version))
        if definition is None:
            raise DefinitionNotFound(f"流程 “{process_key}” 没有第 {version} 版")
        files = db.session.execute(select(DefinitionFile.name, DefinitionFile.content)
                                   .where(DefinitionFile.definition_id == definition.id)).all()
        return Bundle(definition.source_file, definition.xml.encode("utf-8"),
                      {r.name: r.content.encode("utf-8") for r in files})

    def files_of(self, definition_id: int) -> list[DefinitionFile]:
        """A version's files with their hashes (the version page lists them)."""
        return list(db.session.scalars(select(DefinitionFile).where(DefinitionFile.definition_id == definition_id)
                                       .order_by(DefinitionFile.name)))

    def versions(self, process_key: str | None = None) -> list[ProcessDefinition]:
        stmt = select(ProcessDefinition).order_by(ProcessDefinition.process_key, ProcessDefinition.version)
        if process_key:
            stmt = stmt.where(ProcessDefinition.process_key == process_key)
        return list(db.session.scalars(stmt))
