"""一次性告知 (行政许可法 Art. 32(4), domain §10): a reviewer's 退回 is a correction notice.

A return lists items, each naming a field or attachment slot of the application (from its edit
form file) or a free item, and says what is wrong; the opinion goes with them. The application's
form file declares each review step's common items (``x-corrections``) for the reviewer to tick.
The applicant answers every item of the latest notice, corrected (the field changed) or explained
(with text), before 上报 is accepted again; the reviewer then sees the answers item by item. A
second return marks which of its items were already asked in the previous one.
"""
from dataclasses import dataclass

from sqlalchemy import bindparam, func, select

from engine.db import db
from engine.forms import CorrectionSpec, FieldSpec, FormSpec
from engine.models import utcnow

from .errors import DomainError, FieldErrors
from .models import ANSWER_KINDS, Attachment, CorrectionItem, CorrectionNotice

FREE_LABEL = "其他"          # a free item names no field
ITEM_TEXT_MAX, ANSWER_TEXT_MAX, MAX_ITEMS = 500, 500, 50
LEGAL_BASIS = "《中华人民共和国行政许可法》第三十二条"
TELLING_LIMIT = "5 个工作日"   # Art. 32(4) with Art. 82: the review step's ``due`` (docs/designers.md)


@dataclass(frozen=True)
class Requested:
    """One item a reviewer's return asks for: the field it names (None: free) and what is wrong."""
    field: str | None
    text: str


# -- what the reviewer may pick ---------------------------------------------------------------
def fields_of(form: FormSpec | None) -> list[FieldSpec]:
    """The application's fields and attachment slots an item may name (the edit form's, in order)."""
    return [f for f in form.targeted("application")] if form is not None else []


def checklist(form: FormSpec | None, step_id: str) -> list[CorrectionSpec]:
    """The review step's common items, as the application's form file declares them."""
    return list(form.corrections.get(step_id, ())) if form is not None else []


# -- reading -----------------------------------------------------------------------------------
def notices(instance_id: int | None) -> list[CorrectionNotice]:
    if instance_id is None:
        return []
    return list(db.session.scalars(_NOTICES, {"instance_id": instance_id}))


_NOTICES = (select(CorrectionNotice).where(CorrectionNotice.instance_id == bindparam("instance_id"))
            .order_by(CorrectionNotice.round))


def latest(instance_id: int | None) -> CorrectionNotice | None:
    if instance_id is None:
        return None
    return db.session.scalar(select(CorrectionNotice).where(CorrectionNotice.instance_id == instance_id)
                             .order_by(CorrectionNotice.round.desc()).limit(1))


def notice(instance_id: int, round_: int) -> CorrectionNotice | None:
    return db.session.scalar(select(CorrectionNotice).where(CorrectionNotice.instance_id == instance_id,
                                                            CorrectionNotice.round == round_))


def items_of(notice_: CorrectionNotice | None) -> list[CorrectionItem]:
    if notice_ is None:
        return []
    return list(db.session.scalars(select(CorrectionItem).where(CorrectionItem.notice_id == notice_.id)
                                   .order_by(CorrectionItem.position)))


def item_count(instance_id: int | None) -> int:
    """How many items the latest notice lists (the returned event's ``correction_items``)."""
    last = latest(instance_id)
    if last is None:
        return 0
    return db.session.scalar(select(func.count()).select_from(CorrectionItem)
                             .where(CorrectionItem.notice_id == last.id)) or 0


# -- the reviewer's return ----------------------------------------------------------------------
def record_return(app, form: FormSpec | None, attachments: list[Attachment], task, principal,
                  requested: list[Requested], opinion: str | None) -> CorrectionNotice:
    """Keep the notice of a return: its items in the order given (duplicates once), each field's
    value as it is now, and which items the previous notice already asked."""
    fields = {f.name: f for f in fields_of(form)}
    items, seen = [], set()
    for n, req in enumerate(requested, 1):
        text = (req.text or "").strip()
        name = req.field or None
        if name is not None and name not in fields:
            raise DomainError(f"补正事项第 {n} 项：所选字段不属于该申请", "corrections")
        if not text:
            raise DomainError(f"补正事项第 {n} 项：请填写需补正的内容", "corrections")
        if len(text) > ITEM_TEXT_MAX:
            raise DomainError(f"补正事项第 {n} 项：不能超过 {ITEM_TEXT_MAX} 个字", "corrections")
        if (name, text) not in seen:
            seen.add((name, text))
            items.append((name, text))
    if len(items) > MAX_ITEMS:
        raise DomainError(f"补正事项不能超过 {MAX_ITEMS} 项", "corrections")
    previous = latest(app.instance_id)
    asked = {(i.field, i.text) for i in items_of(previous)}
    notice_ = CorrectionNotice(
        instance_id=app.instance_id, round=(previous.round + 1) if previous else 1, task_id=task.id,
        opinion=(opinion or "").strip(), reviewer_user_id=principal.user_id, reviewer_name=principal.user_name,
        reviewer_org_id=principal.org_id, reviewer_org_name=principal.org_name)
    db.session.add(notice_)
    db.session.flush()
    for position, (name, text) in enumerate(items, 1):
        slot = fields.get(name) if name else None
        db.session.add(CorrectionItem(
            notice_id=notice_.id, instance_id=app.instance_id, round=notice_.round, position=position,
            field=name, label=slot.title if slot else FREE_LABEL, text=text,
            before=value_of(app, slot, attachments) if slot else None, repeated=(name, text) in asked))
    return notice_


def value_of(app, slot: FieldSpec, attachments: list[Attachment]) -> str:
    """A field's value as text, to tell whether it changed: an attachment slot's file ids."""
    if slot.is_file:
        return ",".join(str(a.id) for a in sorted(attachments, key=lambda a: a.id) if a.kind == slot.kind)
    value = getattr(app, slot.name, None)
    return "" if value is None else str(value)


# -- the applicant's answers --------------------------------------------------------------------
def open_items(app) -> list[CorrectionItem]:
    """The items the applicant answers now: the latest notice's, while the case is returned."""
    if not app.is_editable or app.reported_at is None:
        return []
    return items_of(latest(app.instance_id))


def answer(app, form: FormSpec | None, attachments: list[Attachment], principal,
           answers: dict[int, tuple[str, str]]) -> int:
    """Apply the answers posted with the form (item id -> (kind, text)); a blank kind keeps the item
    as it was. Every refusal is raised together, naming the item. Returns how many changed."""
    fields = {f.name: f for f in fields_of(form)}
    errors, changed = {}, 0
    items = open_items(app)
    if set(answers) - {i.id for i in items}:
        raise DomainError("所答复的补正事项不存在或已无需答复，请刷新后重试", "corrections")
    for item in items:
        kind, text = answers.get(item.id, ("", ""))
        kind, text = (kind or "").strip(), (text or "").strip()
        if not kind:
            continue
        where = f"补正事项“{item.label}：{_short(item.text)}”"
        if kind not in ANSWER_KINDS:
            errors[f"answer_{item.id}"] = f"{where}：请选择已更正或说明"
        elif len(text) > ANSWER_TEXT_MAX:
            errors[f"answer_{item.id}"] = f"{where}：说明不能超过 {ANSWER_TEXT_MAX} 个字"
        elif kind == "explained" and not text:
            errors[f"answer_{item.id}"] = f"{where}：选择“说明”时请填写说明"
        elif kind == "corrected" and not _changed(app, item, fields, attachments):
            errors[f"answer_{item.id}"] = (f"{where}：“{item.label}”尚未修改，请修改后再选择“已更正”，"
                                           f"或选择“说明”并填写说明")
        elif (item.answer_kind, item.answer_text) != (kind, text):
            item.answer_kind, item.answer_text = kind, text
            item.answered_at, item.answered_by_user_id = utcnow(), principal.user_id
            changed += 1
    if errors:
        raise FieldErrors(errors)
    return changed


def require_answered(app, form: FormSpec | None, attachments: list[Attachment]) -> None:
    """上报 again only when every item is answered (and a corrected field still differs)."""
    fields = {f.name: f for f in fields_of(form)}
    errors = {}
    for n, item in enumerate(open_items(app), 1):
        if item.answer_kind is None:
            errors[f"answer_{item.id}"] = f"第 {n} 项“{item.label}：{_short(item.text)}”尚未答复"
        elif item.answer_kind == "corrected" and not _changed(app, item, fields, attachments):
            errors[f"answer_{item.id}"] = f"第 {n} 项“{item.label}：{_short(item.text)}”标记为已更正，但“{item.label}”未修改"
    if errors:
        raise FieldErrors({"_": "补正事项未全部答复，不能上报：" + "；".join(errors.values())
                                + "。请逐项选择“已更正”（并修改对应内容）或填写说明后再上报。", **errors})


def _changed(app, item: CorrectionItem, fields: dict, attachments) -> bool:
    slot = fields.get(item.field) if item.field else None
    if slot is None:
        return True   # a free item (or a field a later form no longer has): the applicant's word
    return value_of(app, slot, attachments) != (item.before or "")


def _short(text: str, limit: int = 30) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def summary(items: list[CorrectionItem]) -> str:
    """The log's opinion for an answer: how many items, corrected and explained."""
    corrected = sum(1 for i in items if i.answer_kind == "corrected")
    explained = sum(1 for i in items if i.answer_kind == "explained")
    return f"共 {len(items)} 项：已更正 {corrected} 项，已说明 {explained} 项"


def is_answer_kind(kind: str) -> bool:
    return kind in ANSWER_KINDS


def history(instance_id: int | None) -> list[tuple[CorrectionNotice, list[CorrectionItem]]]:
    """Every notice of a case with its items, oldest first (two statements, however many rounds)."""
    found = notices(instance_id)
    if not found:
        return []
    by_notice: dict[int, list[CorrectionItem]] = {n.id: [] for n in found}
    for item in db.session.scalars(select(CorrectionItem).where(CorrectionItem.instance_id == instance_id)
                                   .order_by(CorrectionItem.round, CorrectionItem.position)):
        by_notice.setdefault(item.notice_id, []).append(item)
    return [(n, by_notice[n.id]) for n in found]


# -- the printed notice -------------------------------------------------------------------------
NOTICE_TITLE = "补正材料通知书"
LEGAL_TEXT = (f"{LEGAL_BASIS}第一款第（四）项：申请材料不齐全或者不符合法定形式的，应当当场或者在五日内"
              "一次告知申请人需要补正的全部内容。")


def notice_pdf(app, title: str, notice_: CorrectionNotice, items: list[CorrectionItem]) -> bytes:
    """The 补正材料通知书 of one return (domain §10): 申请人, 联系人, 申请事项, 申请日期, 需补正的
    材料及要求, 承办人, 法律依据, 日期, with the case number; a later round marks each item new or
    already told. Raises pdf.FontMissing when the server has no CJK font."""
    from reportlab.lib import colors
    from reportlab.lib.units import cm
    from reportlab.platypus import Paragraph, Spacer, Table, TableStyle

    from engine.models import HumanTask
    from . import pdf
    from .catalog import LOCAL_OFFSET

    st = pdf.styles()
    p = lambda value, style=st.cell: Paragraph(pdf.text(value), style)   # noqa: E731
    org = app.applicant_org
    task = db.session.get(HumanTask, notice_.task_id)
    applied = task.created_at if task is not None else app.reported_at
    day = lambda value: (value + LOCAL_OFFSET).strftime("%Y年%m月%d日") if value else "—"   # noqa: E731
    contact = " ".join(v for v in (org.contact_person, org.contact_phone) if v) or "—"
    facts = [
        ("申请人", org.name), ("联系人", contact), ("申请事项", f"{title}（{app.project.name}）"),
        ("申请日期", day(applied)), ("办件编号", app.case_no or "—"),
    ]
    story = [Paragraph(NOTICE_TITLE, st.title),
             Paragraph(pdf.text(f"第 {notice_.round} 次补正告知"), st.small), Spacer(1, 0.3 * cm)]
    fact_table = Table([[p(k), p(v)] for k, v in facts], colWidths=[3 * cm, 13.6 * cm])
    fact_table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                                    ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#f2f2f2")),
                                    ("VALIGN", (0, 0), (-1, -1), "MIDDLE")]))
    story += [fact_table, Spacer(1, 0.4 * cm)]
    story.append(Paragraph(pdf.text(
        f"{org.name}：你单位于{day(applied)}提交的“{title}”材料，经审查，需要补正下列材料及内容。"
        f"现一次性告知如下，请按要求补正后重新上报，并逐项答复："), st.body))
    story.append(Paragraph("需补正的材料及要求", st.heading))
    header = ["序号", "材料或字段", "需补正的内容及要求"] + (["说明"] if notice_.round > 1 else [])
    rows = [[p(h) for h in header]]
    for item in items:
        row = [p(item.position), p(item.label), p(item.text)]
        if notice_.round > 1:
            row.append(p("上次已告知" if item.repeated else "新提出（因补正内容产生）"))
        rows.append(row)
    if not items:
        rows.append([p("—"), p("—"), p(notice_.opinion or "见审核意见")] + ([p("")] if notice_.round > 1 else []))
    widths = [1.4 * cm, 3.6 * cm, 11.6 * cm] if notice_.round == 1 else [1.4 * cm, 3.4 * cm, 8.3 * cm, 3.5 * cm]
    item_table = Table(rows, colWidths=widths, repeatRows=1)
    item_table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f2f2f2")),
                                    ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    story.append(item_table)
    if notice_.round > 1:
        story.append(Paragraph(pdf.text("注：标注“新提出”的事项系因申请人补正的内容而产生；"
                                        "标注“上次已告知”的事项为上次告知后仍未补正到位的内容。"), st.small))
    if notice_.opinion:
        story += [Paragraph("审核意见", st.heading), Paragraph(pdf.text(notice_.opinion), st.body)]
    story += [Paragraph("法律依据", st.heading), Paragraph(pdf.text(LEGAL_TEXT), st.body), Spacer(1, 0.6 * cm)]
    sign = Table([[p("承办人", st.body), p(f"{notice_.reviewer_name}（{notice_.reviewer_org_name}）", st.body)],
                  [p("日期", st.body), p(day(notice_.created_at), st.body)]], colWidths=[3 * cm, 13.6 * cm])
    story.append(sign)
    return pdf.build(story, title=f"{NOTICE_TITLE}（{app.case_no or ''}）", author=notice_.reviewer_org_name,
                     subject=title)
