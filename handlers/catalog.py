"""The process catalog: every business process declared once, read by every page.

A process is its diagram (``bpmn/<key>.bpmn``: steps, candidates, statuses), its form files
(``bpmn/forms/*.json``) and one module in ``handlers/processes/`` that registers a
``ProcessEntry`` here together with its service (what the applicant files about and the
domain checks) and its operators (the effects the diagram's service tasks apply).
"""
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Callable

from sqlalchemy import or_

LOCAL_OFFSET = timedelta(hours=8)   # stored times are UTC; the province lives in China Standard Time


@dataclass(frozen=True)
class Column:
    """One labelled value of an application: a list column or a summary row.

    ``fmt`` names how the page formats the value (``mask_id``, ``datetime``, ``pre``, ``mono``);
    a row whose ``when`` says no is left out. A list column names in ``reads`` the attributes its
    ``value`` reads (dotted paths from the application, e.g. ``"lock_record.project.name"``,
    including the columns a model property it reads uses): the list selects exactly those
    (handlers.listing) instead of loading the applications.
    """
    label: str
    value: Callable[[Any], Any]
    fmt: str | None = None
    when: Callable[[Any], bool] | None = None
    reads: tuple[str, ...] = ()


@dataclass(frozen=True)
class Pick:
    """A record the applicant may file about (the 添加 dialog).

    ``reason`` says why it cannot be picked now (shown greyed); ``group`` groups the dialog.
    """
    id: int
    name: str
    detail: str
    group: str = ""
    reason: str | None = None
    open_key: str | None = None   # the application's open_key once filed: an open one greys the pick


@dataclass(frozen=True)
class PickFilter:
    """What the 添加 dialog asks the database for: records in which every word appears in one of
    the searched columns, ``limit`` of them from ``offset`` (None: all). Filtering and paging in the
    query keeps the dialog quick for an enterprise with hundreds of locked people."""
    words: tuple[str, ...] = ()
    limit: int | None = None
    offset: int = 0

    @classmethod
    def search(cls, q: str | None, limit: int | None = None, offset: int = 0) -> "PickFilter":
        # an ID number's check letter is stored upper-case: "53…x" finds it as well
        words = tuple(w.upper() if re.fullmatch(r"[0-9xX]+", w) else w for w in (q or "").split())
        return cls(words, limit, offset)

    def apply(self, stmt, *columns):
        for word in self.words:
            stmt = stmt.where(or_(*(column.contains(word, autoescape=True) for column in columns)))
        return stmt if self.limit is None else stmt.limit(self.limit).offset(self.offset)


ALL_PICKS = PickFilter()


@dataclass(frozen=True)
class ProcessEntry:
    key: str                              # the BPMN process id
    kind: str                             # URL slug and attachment owner tag
    title: str                            # 人员解锁申请 …, written here only
    prefix: str                           # short case-number prefix (RJ, BG, JG)
    menu: tuple[str, str]                 # (top menu, group) in the navigation
    filers: tuple[str, ...]               # organisation kinds that may file it
    model: type                           # the domain table of its applications
    service: type                         # handlers.applications.ApplicationService subclass
    edit_form: str | None                 # form file key of the application fields (None: filed elsewhere)
    picker_title: str                     # 添加 dialog heading
    picker_empty: str                     # shown when nothing can be picked
    picks: Callable[[Any, Any, PickFilter], list[Pick]]   # (service, principal, filter) -> the pickable records
    columns: tuple[Column, ...]           # the applicant's list
    summary: tuple[Column, ...]           # what the reviewer (and the read-only detail) shows
    basics: tuple[Column, ...]            # the fixed facts above the edit form
    pick_search: str = "姓名或身份证号"      # what the 添加 dialog's search matches (its placeholder)
    save_label: str = "暂存"                # the save button's label (the manual's: 确定 or 暂存); saving
                                          # is logged as 暂存 and returns to the list on every process
    crumbs: tuple[str, ...] = ()          # breadcrumb before the title (default: the menu path)
    operators: tuple[str, ...] = field(default=())   # operator ids its diagram uses
    # the operators on the approval path, when the diagram uses others too (a return's operator);
    # None: all of ``operators`` (the approval previews rehearse these)
    approval_operators: tuple[str, ...] | None = None
    reviewers: tuple[str, ...] = ("agency", "authority")   # organisation kinds that work its review steps
    notifies_applicant: bool = True       # the applicant organisation hears of claims and decisions
    # (person, role) pairs whose counted projects the applicant's preview shows after approval
    counted_people: Callable[[Any], list[tuple[Any, str]]] | None = None

    @property
    def breadcrumb(self) -> str:
        return " › ".join(self.crumbs or self.menu)


_BY_KIND: dict[str, ProcessEntry] = {}
_BY_KEY: dict[str, ProcessEntry] = {}


def register(entry: ProcessEntry) -> ProcessEntry:
    if entry.kind in _BY_KIND or entry.key in _BY_KEY:
        raise ValueError(f"process {entry.key!r} / {entry.kind!r} registered twice")
    unread = [column.label for column in entry.columns if not column.reads]
    if unread:
        raise ValueError(f"process {entry.key!r}: list columns {unread} name no reads")
    _BY_KIND[entry.kind] = entry
    _BY_KEY[entry.key] = entry
    return entry


def entries() -> list[ProcessEntry]:
    return list(_BY_KIND.values())


def by_kind(kind: str) -> ProcessEntry | None:
    return _BY_KIND.get(kind)


def by_key(process_key: str) -> ProcessEntry | None:
    return _BY_KEY.get(process_key)


def entry_of(app) -> ProcessEntry | None:
    """The entry whose domain table holds this application row."""
    return next((e for e in _BY_KIND.values() if isinstance(app, e.model)), None)


def titles() -> dict[str, str]:
    """Process key -> title, for labels and filters."""
    return {e.key: e.title for e in _BY_KIND.values()}


def reviewed_by(org_kind: str) -> list[ProcessEntry]:
    return [e for e in _BY_KIND.values() if org_kind in e.reviewers]


def filed_by(org_kind: str) -> list[ProcessEntry]:
    return [e for e in _BY_KIND.values() if org_kind in e.filers]


# -- how entries show values (the pages' filters are these) ---------------------------------
def local_dt(value) -> str:
    if not value:
        return ""
    if isinstance(value, datetime):
        return (value + LOCAL_OFFSET).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def without_full_stop(text: str) -> str:
    """A reviewer's or an operator's words without their closing punctuation, for a sentence that
    goes on after them (no "。。")."""
    return (text or "").strip().rstrip("。.！!；;，, ")
def api_time(value: datetime | None) -> str | None:
    """A stored (naive UTC) time as the integration API and the webhooks send every time:
    ISO 8601 / RFC 3339 in UTC, to the second, with ``Z`` (``2026-03-02T01:30:00Z``)."""
    if value is None:
        return None
    return value.replace(microsecond=0).isoformat() + "Z"


def mask_id(value) -> str:
    """An ID-card number with the middle digits hidden."""
    value = value or ""
    if len(value) < 10:
        return value
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def person_label(person) -> str:
    return f"{person.name}（{mask_id(person.id_card)}）"
