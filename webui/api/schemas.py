"""The API's request and response shapes (marshmallow), from which the OpenAPI document is built."""
from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load, validate

from handlers.models import API_SCOPES, CERTIFICATES, PERSON_STATUS, PROJECT_STATUS, ROLES
from engine.text import bad_character, natural_key


class Strict(Schema):
    class Meta:
        unknown = EXCLUDE   # fields from a newer sender are ignored, not refused
        ordered = True

    @pre_load
    def refuse_bad_characters(self, data, **_kw):
        """NUL, control characters and lone surrogates anywhere in the body: 400 naming each field,
        before anything can reach the database (PostgreSQL refuses NUL; a surrogate cannot be encoded)."""
        errors = dict(_bad_strings(data))
        if errors:
            raise ValidationError(errors)
        return data


def _bad_strings(value, path=""):
    """(dotted path, [message]) of every string in ``value`` that cannot be stored."""
    if isinstance(value, str):
        reason = bad_character(value)
        if reason:
            yield path, [reason]
    elif isinstance(value, dict):
        for key, item in value.items():
            name = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and bad_character(key):
                yield name, [bad_character(key)]
            else:
                yield from _bad_strings(item, name)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _bad_strings(item, f"{path}[{i}]")


class NaturalKey(fields.String):
    """A natural key, read in its one spelling (engine/text.py) before its length is checked."""

    def _deserialize(self, value, attr, data, **kwargs):
        return natural_key(super()._deserialize(value, attr, data, **kwargs))


def Time(**kw) -> fields.String:
    """A time the API sends: handlers.catalog.api_time's one form (UTC, to the second, ``Z``)."""
    return fields.String(**kw, metadata={
        "format": "date-time", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$", "example": "2026-03-02T01:30:00Z",
        "description": "UTC 时间（ISO 8601，精确到秒，以 Z 结尾）；北京时间为其加 8 小时"})


def Day(description: str, **kw) -> fields.String:
    """A calendar day in China (日期，无时区), as the pages show it."""
    return fields.String(**kw, metadata={"format": "date", "example": "2026-12-22", "description": description})


class FieldError(Schema):
    field = fields.String(required=True, metadata={"description": "出错的字段（点号路径）"})
    message = fields.String(required=True)


class Problem(Schema):
    """RFC 9457 problem details."""
    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String(metadata={"description": "中文说明"})
    errors = fields.List(fields.Nested(FieldError))
    row = fields.Integer(allow_none=True)
    people = fields.List(fields.Dict())


class OrgRef(Strict):
    credit_code = NaturalKey(required=True, validate=validate.Length(min=18, max=18),
                                metadata={"description": "统一社会信用代码"})
    name = fields.String(validate=validate.Length(max=200), allow_none=True)


class EmployerRef(OrgRef):
    kind = fields.String(validate=validate.OneOf(["construction_unit", "contractor", "supervising_firm"]),
                         allow_none=True)


class Personnel(Strict):
    project_manager = NaturalKey(allow_none=True, metadata={"description": "项目经理身份证号"})
    safety_officer = NaturalKey(allow_none=True, metadata={"description": "安全员身份证号"})
    chief_supervisor = NaturalKey(allow_none=True, metadata={"description": "项目总监身份证号"})


class ProjectIn(Strict):
    supervision_no = NaturalKey(required=True, validate=validate.Length(min=1, max=50),
                                   metadata={"description": "报监登记号（自然键）"})
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    contract_no = NaturalKey(allow_none=True, validate=validate.Length(max=50))
    permit_no = NaturalKey(allow_none=True, validate=validate.Length(max=50))
    address = fields.String(allow_none=True, validate=validate.Length(max=300))
    status = fields.String(validate=validate.OneOf([*PROJECT_STATUS, *PROJECT_STATUS.values()]))
    construction_unit = fields.Nested(OrgRef, required=True)
    contractor = fields.Nested(OrgRef, allow_none=True)
    supervising_firm = fields.Nested(OrgRef, allow_none=True)
    authority = fields.Nested(OrgRef, required=True)
    agency = fields.Nested(OrgRef, required=True)
    personnel = fields.Nested(Personnel)


class CertificateIn(Strict):
    kind = fields.String(required=True, validate=validate.OneOf([*CERTIFICATES, *CERTIFICATES.values()]))
    number = NaturalKey(required=True, validate=validate.Length(min=1, max=50))


class PersonIn(Strict):
    id_card = NaturalKey(required=True, validate=validate.Length(min=18, max=18),
                            metadata={"description": "身份证号（自然键）"})
    name = fields.String(required=True, validate=validate.Length(min=1, max=50))
    employer = fields.Nested(EmployerRef, required=True)
    certificates = fields.List(fields.Nested(CertificateIn))


class BulkIn(Strict):
    rows = fields.List(fields.Dict(), required=True, validate=validate.Length(min=1, max=5000),
                       metadata={"description": "每行同单条接口的请求体"})


class LockOut(Schema):
    id = fields.Integer()
    role = fields.String(validate=validate.OneOf(list(ROLES)))
    project_id = fields.Integer()
    locked_at = Time()
    reason = fields.String()


class PersonOutcome(Schema):
    role = fields.String()
    id_card = fields.String()
    name = fields.String()
    outcome = fields.String(metadata={"description": "assigned | locked | unchanged | over_limit"})
    lock = fields.Nested(LockOut, allow_none=True)
    message = fields.String()
    project = fields.String(metadata={"description": "报监登记号 of the project the person holds the role on "
                                                     "(a refused change of employer)"})


class UpsertOut(Schema):
    outcome = fields.String(metadata={"description": "created | updated | unchanged"})
    key = fields.String()
    id = fields.Integer()
    people = fields.List(fields.Nested(PersonOutcome))


class BulkRow(Schema):
    row = fields.Integer()
    status = fields.Integer()
    outcome = fields.String()
    key = fields.String()
    id = fields.Integer()
    people = fields.List(fields.Nested(PersonOutcome))
    errors = fields.List(fields.Nested(FieldError))


class BulkOut(Schema):
    accepted = fields.Integer()
    refused = fields.Integer()
    results = fields.List(fields.Nested(BulkRow))


class OrgOut(Schema):
    credit_code = fields.String(allow_none=True)
    name = fields.String()


class ProjectOut(Schema):
    id = fields.Integer()
    supervision_no = fields.String()
    name = fields.String()
    contract_no = fields.String(allow_none=True)
    permit_no = fields.String(allow_none=True)
    address = fields.String(allow_none=True)
    status = fields.String(validate=validate.OneOf(list(PROJECT_STATUS)))
    status_label = fields.String()
    construction_unit = fields.Nested(OrgOut, allow_none=True)
    contractor = fields.Nested(OrgOut, allow_none=True)
    supervising_firm = fields.Nested(OrgOut, allow_none=True)
    authority = fields.Nested(OrgOut, allow_none=True)
    agency = fields.Nested(OrgOut, allow_none=True)
    personnel = fields.Dict(keys=fields.String(), values=fields.String())


class CertificateOut(Schema):
    kind = fields.String()
    number = fields.String()


class PersonOut(Schema):
    id = fields.Integer()
    id_card = fields.String()
    name = fields.String()
    status = fields.String(validate=validate.OneOf(list(PERSON_STATUS)))
    status_label = fields.String()
    employer = fields.Nested(OrgOut)
    certificates = fields.List(fields.Nested(CertificateOut))
    open_locks = fields.List(fields.Nested(LockOut))


class PageArgs(Strict):
    # the directory's ids (projects, people) are 32-bit columns: a larger cursor is refused, not sent
    cursor = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1),
                            metadata={"description": "上一页返回的 next_cursor"})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class ProjectPage(Schema):
    items = fields.List(fields.Nested(ProjectOut))
    next_cursor = fields.Integer(allow_none=True)


class PersonPage(Schema):
    items = fields.List(fields.Nested(PersonOut))
    next_cursor = fields.Integer(allow_none=True)


SCOPES_DOC = ", ".join(API_SCOPES)
