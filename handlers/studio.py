"""The designer's studio on the server: every call the browser studio (/studio/) makes.

Only a 流程设计 principal (``Principal.is_designer``) may call these; anyone else gets
Forbidden. Each command is one transaction (the engine's unit of work). The data:

- a *version* is a deployed bundle (engine.bundles): its diagram and files with their sha256,
  who deployed it, when, the change note (``VersionInfo``);
- a *draft* is the working copy of one process (engine.drafts.Draft): ``xml``, ``files``
  ({bundle path: text}: ``forms/<key>.json``, ``tests/<name>.yaml``) and a ``revision`` that a
  save must quote (a save over a newer one is refused);
- a *problem* is one finding of the checks (``Problem``: file, element id, message), the element
  id marking the diagram;
- a *scenario result* (handlers.scenarios.ScenarioResult) says whether a designer's scenario
  passed, its failures, and the element ids the run went through (``path``) to colour;
- a *change* (handlers.version_diff.Change) is one element or property added, removed or
  changed between two versions (or a version and the draft);
- *live counts* (handlers.live.ElementCounts) per element of a version: waiting, overdue,
  incidents; ``live_applications`` lists them.

Command-line equivalents: ``flask bpmn deploy|export|draft …|validate-draft|deploy-draft|test|diff``.
"""
from dataclasses import dataclass
from datetime import datetime

from engine import DefinitionError, DefinitionNotFound, DraftRefused, ProcessEngine
from engine.bundles import Bundle
from engine.definitions import Deployment
from engine.drafts import Draft

from . import live, scenarios, version_diff
from .errors import DomainError, FieldErrors, Forbidden, NotFound
from .principal import Principal


@dataclass(frozen=True)
class Problem:
    file: str
    element_id: str | None
    message: str

    @classmethod
    def of(cls, err) -> "Problem":
        if isinstance(err, DefinitionError):
            return cls(err.file, err.element_id, err.reason)
        return cls(getattr(err, "file", ""), getattr(err, "element_id", None), str(getattr(err, "message", err)))


@dataclass(frozen=True)
class VersionInfo:
    process_key: str
    name: str
    version: int
    content_hash: str
    diagram_hash: str | None
    deployed_at: datetime
    deployed_by: str | None
    note: str | None
    is_current: bool
    files: tuple[tuple[str, str], ...]   # (bundle path, sha256)


@dataclass(frozen=True)
class ProcessSummary:
    process_key: str
    name: str
    current_version: int
    versions: int
    draft_revision: int | None    # None: no draft


class StudioService:
    def __init__(self, engine: ProcessEngine):
        self.engine = engine

    @property
    def definitions(self):
        return self.engine.definitions

    @property
    def drafts(self):
        return self.engine.drafts

    # -- versions ---------------------------------------------------------------------
    def processes(self, principal: Principal) -> list[ProcessSummary]:
        _require(principal)
        drafts = {d.process_key: d.revision for d in self.drafts.all()}
        by_key: dict[str, list] = {}
        for d in self.definitions.versions():
            by_key.setdefault(d.process_key, []).append(d)
        found = [ProcessSummary(k, vs[-1].name, vs[-1].version, len(vs), drafts.pop(k, None))
                 for k, vs in sorted(by_key.items())]
        return found + [ProcessSummary(k, k, 0, 0, rev) for k, rev in sorted(drafts.items())]

    def versions(self, principal: Principal, process_key: str) -> list[VersionInfo]:
        _require(principal)
        rows = self.definitions.versions(process_key)
        if not rows:
            raise NotFound("流程不存在")
        newest = rows[-1].version
        return [self._info(d, d.version == newest) for d in reversed(rows)]

    def version(self, principal: Principal, process_key: str, version: int) -> VersionInfo:
        return next((v for v in self.versions(principal, process_key) if v.version == version), None) or _no_version()

    def bundle(self, principal: Principal, process_key: str, version: int | None = None) -> Bundle:
        _require(principal)
        try:
            return self.definitions.bundle(process_key, version)
        except DefinitionNotFound:
            raise NotFound("流程或版本不存在") from None

    def export_zip(self, principal: Principal, process_key: str, version: int) -> tuple[str, bytes]:
        """(file name, zip bytes) of a version laid out as bpmn/ (diagram, forms/, tests/<process>/)."""
        return f"{process_key}-v{version}.zip", self.bundle(principal, process_key, version).zip()

    def _info(self, d, is_current: bool) -> VersionInfo:
        files = tuple((f.name, f.sha256) for f in self.definitions.files_of(d.id))
        return VersionInfo(d.process_key, d.name, d.version, d.content_hash, d.diagram_hash, d.deployed_at,
                           d.deployed_by, d.note, is_current, files)

    # -- drafts -----------------------------------------------------------------------
    def draft(self, principal: Principal, process_key: str) -> Draft | None:
        _require(principal)
        return self.drafts.get(process_key)

    def open_draft(self, principal: Principal, process_key: str, version: int | None = None) -> Draft:
        """The draft; without one (or with ``version``: replacing it), a copy of that version."""
        _require(principal)
        try:
            return self.drafts.open(process_key, version, by=_who(principal))
        except DefinitionNotFound:
            raise NotFound("流程或版本不存在") from None

    def save_draft(self, principal: Principal, process_key: str, xml: str, files: dict[str, str],
                   revision: int | None = None) -> Draft:
        _require(principal)
        try:
            return self.drafts.save(process_key, xml, files, by=_who(principal), revision=revision)
        except DraftRefused as exc:
            raise DomainError(exc.message, exc.field) from None

    def upload_diagram(self, principal: Principal, process_key: str, filename: str, content: bytes,
                       revision: int | None = None) -> tuple[Draft, list[Problem]]:
        """An uploaded .bpmn replaces the draft's diagram (its files stay); the checks' problems come back."""
        _require(principal)
        if not filename.lower().endswith(".bpmn"):
            raise DomainError("请上传 .bpmn 文件", "file")
        try:
            xml = content.decode("utf-8")
        except UnicodeDecodeError:
            raise DomainError("文件不是 UTF-8 编码的 BPMN", "file") from None
        current = self.drafts.get(process_key) or self.open_draft(principal, process_key)
        draft = self.save_draft(principal, process_key, xml, current.files,
                                revision if revision is not None else current.revision)
        return draft, self.validate_draft(principal, process_key)

    def discard_draft(self, principal: Principal, process_key: str) -> bool:
        _require(principal)
        return self.drafts.discard(process_key)

    def validate_draft(self, principal: Principal, process_key: str) -> list[Problem]:
        _require(principal)
        try:
            return [Problem.of(e) for e in self.drafts.validate(process_key)]
        except DefinitionNotFound:
            raise NotFound("该流程没有草稿") from None

    def test_draft(self, principal: Principal, process_key: str) -> list["scenarios.ScenarioResult"]:
        """Run the draft's scenarios on a throwaway database (handlers.scenarios)."""
        _require(principal)
        draft = self.drafts.get(process_key)
        if draft is None:
            raise NotFound("该流程没有草稿")
        return scenarios.run_bundle(draft.bundle)

    def deploy_draft(self, principal: Principal, process_key: str, note: str) -> VersionInfo:
        """部署: refuses an invalid draft or one whose scenarios fail; records who, when and the note."""
        _require(principal)
        if not (note or "").strip():
            raise FieldErrors({"note": "变更说明：请填写变更说明"})
        deployment = Deployment(note.strip(), _who(principal), principal.user_id)
        try:
            definition = self.drafts.deploy(process_key, deployment, gate=scenarios.failures_of)
        except DefinitionNotFound:
            raise NotFound("该流程没有草稿") from None
        except DraftRefused as exc:
            raise DomainError(exc.message, exc.field) from None
        return self._info(definition, True)

    # -- comparison and live view ---------------------------------------------------------
    def diff(self, principal: Principal, process_key: str, old: int, new: int | None = None) -> list[version_diff.Change]:
        """What changed from version ``old`` to version ``new`` (None: to the draft)."""
        before = self.bundle(principal, process_key, old)
        if new is None:
            draft = self.drafts.get(process_key)
            if draft is None:
                raise NotFound("该流程没有草稿")
            after = draft.bundle
        else:
            after = self.bundle(principal, process_key, new)
        return version_diff.diff_bundles(before, after)

    def live_counts(self, principal: Principal, process_key: str, version: int) -> dict[str, live.ElementCounts]:
        _require(principal)
        return live.counts(process_key, version)

    def live_applications(self, principal: Principal, process_key: str, version: int, element_id: str,
                          which: str = "waiting") -> list[live.LiveRow]:
        _require(principal)
        if which not in live.KINDS:
            raise DomainError(f"类别只能为 {'、'.join(live.KINDS)}", "which")
        return live.applications(process_key, version, element_id, which)

    def choices(self, principal: Principal) -> dict[str, list[str]]:
        """What the properties panel offers: the running registry's names (no free typing)."""
        _require(principal)
        registry = self.engine.registry
        return {"candidate_rules": sorted(registry.candidate_rules), "operators": sorted(registry.operators),
                "statuses": sorted(registry.statuses), "claim": ["required", "optional"]}


def _require(principal: Principal | None) -> None:
    if principal is None or not principal.is_designer:
        raise Forbidden("仅流程设计人员可以使用流程设计器")


def _who(principal: Principal) -> str:
    return f"{principal.user_name}（{principal.org_name}）"


def _no_version():
    raise NotFound("流程或版本不存在")
