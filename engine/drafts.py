"""Drafts: the designer's working copy of one process, a bundle not yet deployed.

One draft per process key (``process_draft``): the diagram XML and its files by bundle path
(``forms/<key>.json``, ``tests/<name>.yaml``). Commands, each one unit of work:

- ``open(process_key, version=None, by=)``: the draft, or a new one copied from a version's
  bundle (the newest without ``version``);
- ``save(process_key, xml, files, by=, revision=)``: replaces the draft's diagram and files.
  ``revision`` is the one the editor loaded: a save over someone else's newer save is refused.
  A draft may be invalid; saving only refuses what cannot be a bundle at all (another process
  id, a file outside forms/ and tests/, oversize files);
- ``validate(process_key)``: every problem (DefinitionError: file, element id, reason), by the
  deploy validator and the drawing checks (engine.diagram_checks);
- ``deploy(process_key, deployment, gate=)``: refuses an invalid draft, then asks ``gate`` (the
  designer's scenarios, handlers.scenarios) and refuses when it reports failures; otherwise
  deploys the bundle as the next version and removes the draft;
- ``discard(process_key)``; ``get(process_key)`` and ``all()`` read.
"""
import json
import re
from dataclasses import dataclass
from typing import Callable

from sqlalchemy import select

from .bundles import FORM_PREFIX, SCENARIO_SUFFIXES, TEST_PREFIX, Bundle, process_id
from .db import db, unit_of_work
from .definitions import DefinitionStore, Deployment
from .errors import ConcurrentModification, DefinitionError, DefinitionNotFound, DraftRefused
from .models import ProcessDefinition, ProcessDraft

MAX_FILE_BYTES = 1_000_000
_FILE_NAME = re.compile(r"^[\w.\-\u4e00-\u9fff]+$")

ScenarioGate = Callable[[Bundle], list]   # bundle -> failures (empty: all scenarios pass)


@dataclass(frozen=True)
class Draft:
    """A draft as the studio sees it."""
    process_key: str
    diagram_name: str
    xml: str
    files: dict[str, str]
    base_version: int | None
    revision: int
    updated_by: str
    updated_at: object

    @property
    def bundle(self) -> Bundle:
        return Bundle(self.diagram_name, self.xml.encode("utf-8"),
                      {name: text.encode("utf-8") for name, text in self.files.items()})


def _view(row: ProcessDraft) -> Draft:
    return Draft(row.process_key, row.diagram_name, row.xml, json.loads(row.files or "{}"), row.base_version,
                 row.revision, row.updated_by, row.updated_at)


class DraftStore:
    def __init__(self, definitions: DefinitionStore):
        self.definitions = definitions

    def get(self, process_key: str) -> Draft | None:
        row = self._row(process_key)
        return _view(row) if row else None

    def all(self) -> list[Draft]:
        return [_view(r) for r in db.session.scalars(select(ProcessDraft).order_by(ProcessDraft.process_key))]

    def open(self, process_key: str, version: int | None = None, by: str = "") -> Draft:
        """The process's draft; without one, a new draft copied from a version's bundle."""
        with unit_of_work():
            row = self._row(process_key)
            if row is not None and version is None:
                return _view(row)
            bundle = self.definitions.bundle(process_key, version)
            base = version or self.definitions.latest(process_key).version
            if row is None:
                row = ProcessDraft(process_key=process_key, revision=0)
                db.session.add(row)
            self._write(row, bundle.diagram_name, bundle.xml.decode("utf-8"),
                        {n: c.decode("utf-8") for n, c in bundle.files.items()}, by)
            row.base_version = base
            db.session.flush()
            return _view(row)

    def save(self, process_key: str, xml: str, files: dict[str, str], by: str = "",
             revision: int | None = None, diagram_name: str | None = None) -> Draft:
        """Replace the draft's diagram and files (a new process's first save creates it)."""
        problems = _refusals(process_key, xml, files)
        if problems:
            raise DraftRefused(problems[0][1], field=problems[0][0])
        with unit_of_work():
            row = self._row(process_key, lock=True)
            if row is None:
                row = ProcessDraft(process_key=process_key, revision=0, base_version=self._newest(process_key))
                db.session.add(row)
            elif revision is not None and revision != row.revision:
                raise ConcurrentModification(f"草稿已由{row.updated_by or '他人'}于其后保存（第 {row.revision} 次），"
                                             "请重新打开后再修改")
            self._write(row, diagram_name or row.diagram_name or f"{process_key}.bpmn", xml, files, by)
            db.session.flush()
            return _view(row)

    def discard(self, process_key: str) -> bool:
        with unit_of_work():
            row = self._row(process_key, lock=True)
            if row is None:
                return False
            db.session.delete(row)
            return True

    def validate(self, process_key: str) -> list[DefinitionError]:
        return self.definitions.check_bundle(self._draft(process_key).bundle)

    def deploy(self, process_key: str, deployment: Deployment, gate: ScenarioGate | None = None) -> ProcessDefinition:
        """Deploy a valid draft whose scenarios pass as the next version; the draft is removed."""
        if not (deployment.note or "").strip():
            raise DraftRefused("请填写变更说明", field="note")
        draft = self._draft(process_key)
        problems = self.definitions.check_bundle(draft.bundle)
        if problems:
            raise DraftRefused(f"草稿有 {len(problems)} 个问题，不能部署：{problems[0].reason}", problems)
        # the scenarios run before the transaction: they take seconds, and hold no lock meanwhile
        failures = gate(draft.bundle) if gate else []
        if failures:
            raise DraftRefused(f"草稿的流程测试有 {len(failures)} 个未通过，不能部署", failures)
        with unit_of_work():
            row = self._row(process_key, lock=True)
            if row is None or row.revision != draft.revision:
                raise ConcurrentModification("草稿在检查期间又被保存，请重新检查后再部署")
            definition, created = self.definitions.deploy_bundle(draft.bundle, deployment)
            if not created:
                raise DraftRefused(f"草稿与第 {definition.version} 版相同，无需部署")
            db.session.delete(row)
            return definition

    # -- helpers ----------------------------------------------------------------------
    def _draft(self, process_key: str) -> Draft:
        draft = self.get(process_key)
        if draft is None:
            raise DefinitionNotFound(f"流程 “{process_key}” 没有草稿")
        return draft

    def _row(self, process_key: str, lock: bool = False) -> ProcessDraft | None:
        stmt = select(ProcessDraft).where(ProcessDraft.process_key == process_key)
        return db.session.scalar(stmt.with_for_update() if lock else stmt)

    def _newest(self, process_key: str) -> int | None:
        try:
            return self.definitions.latest(process_key).version
        except DefinitionNotFound:
            return None

    @staticmethod
    def _write(row: ProcessDraft, diagram_name: str, xml: str, files: dict[str, str], by: str) -> None:
        row.diagram_name, row.xml = diagram_name, xml
        row.files = json.dumps(dict(sorted(files.items())), ensure_ascii=False)
        row.updated_by, row.revision = (by or "")[:100], (row.revision or 0) + 1


def _refusals(process_key: str, xml: str, files: dict[str, str]) -> list[tuple[str, str]]:
    """(field, Chinese reason) of what no bundle may hold."""
    if not isinstance(xml, str) or not xml.strip():
        return [("xml", "流程图不能为空")]
    if len(xml.encode("utf-8")) > MAX_FILE_BYTES:
        return [("xml", "流程图超过 1 MB")]
    found = process_id(xml.encode("utf-8"))
    if found is not None and found != process_key:
        return [("xml", f"流程图的可执行流程标识为 “{found}”，与草稿的流程 “{process_key}” 不一致")]
    problems = []
    for name, text in (files or {}).items():
        prefix = FORM_PREFIX if name.startswith(FORM_PREFIX) else TEST_PREFIX if name.startswith(TEST_PREFIX) else None
        base = name[len(prefix):] if prefix else ""
        if prefix is None or not _FILE_NAME.match(base) or base.startswith("."):
            problems.append(("files", f"文件名 “{name}” 无效：只能是 forms/<表单>.json 或 tests/<场景>.yaml"))
        elif prefix == FORM_PREFIX and not base.endswith(".json"):
            problems.append(("files", f"表单文件 “{name}” 必须以 .json 结尾"))
        elif prefix == TEST_PREFIX and not base.endswith(SCENARIO_SUFFIXES):
            problems.append(("files", f"场景文件 “{name}” 必须以 .yaml、.yml 或 .json 结尾"))
        elif not isinstance(text, str) or len(text.encode("utf-8")) > MAX_FILE_BYTES:
            problems.append(("files", f"文件 “{name}” 不是文本或超过 1 MB"))
    return problems
