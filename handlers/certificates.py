"""Certificates anyone can verify (电子证照, 国务院令第716号): an approved 竣工验收备案 issues a
竣工验收备案证明, every other approved case an 办结通知书.

A certificate is issued in the transaction of the approval that ends the case. Its row keeps
exactly the facts it prints, the issuing organisation and time, and two Ed25519 signatures by the
platform's current key (kept in the instance folder, ``KeyRing``):

- ``signature`` over the facts (``payload``): the QR code carries the serial and the start of
  it, so a scanned code is checked against the issued record (``verify_link``);
- ``pdf_signature`` over the PDF's own bytes: the PDF is rendered with a placeholder of zeros in
  its /Keywords, the bytes are signed, and the signature is written over the placeholder (same
  length, nothing else moves). An uploaded PDF is checked by zeroing that field again and checking
  the signature over every other byte (``verify_pdf``): one changed byte fails.

The PDF is rendered once, on the certificate's first download (``pdf_of``), with the key and the
verification address fixed at issue, and kept: rendering it costs more than the rest of an
approval, and an approval must not wait for a document nobody may fetch (nor fail for want of a
font). Two first downloads at once store one PDF: the second writer finds it stored and serves it.

Keys rotate (``flask certificates rotate-key``); old keys stay in the folder and keep verifying
the certificates they signed (the key id is in the row and in the PDF). A newer certificate for
the same case, or an administrator, revokes (作废) an older one with a reason, logged in the case's
operation log.
"""
import base64
import hashlib
import hmac
import json
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select, update

from engine import Actor, ProcessEngine
from engine.case_numbers import next_case_no
from engine.db import db, insert_now
from engine.models import HumanTask, ProcessInstance, utcnow

from . import catalog, pdf
from .catalog import LOCAL_OFFSET
from .errors import DomainError, Forbidden, NotFound
from .models import CERT_REVOKED, CERT_VALID, IssuedCertificate, Organization
from .principal import Principal

COMPLETION, CLOSING = "completion", "closing"
TITLES = {COMPLETION: "竣工验收备案证明", CLOSING: "办结通知书"}
SERIAL_PREFIX = "ZM"                     # 证明编号 ZM-2026-000001 (the case counters' table)
SHORT_SIGNATURE = 16                     # characters of the facts signature the QR code carries
REVOKE_ACTION = "证明作废"                # the operation log's name for a revocation
REASON_MAX = 500
SYSTEM_NAME = "质量安全管理系统"

GENUINE, CHANGED, NOT_ISSUED, REVOKED = "genuine", "changed", "not_issued", "revoked"
VERDICTS = {
    GENUINE: "真实有效",
    CHANGED: "文件已被修改",
    NOT_ISSUED: "不是本系统签发的证明",
    REVOKED: "证明已作废",
}

MARK = "YNQS-Certificate"
PLACEHOLDER = "0" * 128                  # an Ed25519 signature, hex
_PDF_FIELD = re.compile(rb"YNQS-Certificate serial=([A-Z0-9-]{1,30}) key=([0-9a-f]{1,32}) signature=([0-9a-f]{128})")


# -- keys ----------------------------------------------------------------------------------------
class KeyRing:
    """The signing keys in a folder of the instance: ``<key id>.key`` (PKCS#8 PEM, mode 0600) for
    every key ever used, and ``current`` naming the one that signs now. The key id is the start
    of the SHA-256 of the public key, so another server's keys have other ids."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self._public: dict[str, Ed25519PublicKey] = {}
        # a key file never changes (its id is its public key's hash), so its parsed key is kept;
        # ``current`` does change (rotation) and is read at every issue
        self._private: dict[str, Ed25519PrivateKey] = {}

    def current_id(self) -> str:
        """The signing key's id; the first call on a new instance creates the first key."""
        current = self.folder / "current"
        if not current.exists():
            key_id = self._new_key()
            _write_once(current, key_id)   # several workers starting together: one key wins
        return current.read_text().strip()

    def rotate(self) -> str:
        """A new signing key; the old ones stay and keep verifying. Returns the new key's id."""
        key_id = self._new_key()
        fd, tmp = tempfile.mkstemp(prefix=".current.", dir=self.folder)
        with os.fdopen(fd, "w") as f:
            f.write(key_id)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.folder / "current")
        return key_id

    def ids(self) -> list[str]:
        return sorted(p.stem for p in self.folder.glob("*.key")) if self.folder.is_dir() else []

    def private(self, key_id: str) -> Ed25519PrivateKey:
        key = self._private.get(key_id)
        if key is None:
            key = self._private[key_id] = serialization.load_pem_private_key(
                (self.folder / f"{key_id}.key").read_bytes(), None)
        return key

    def public(self, key_id: str) -> Ed25519PublicKey | None:
        """The public key of ``key_id``, or None when this platform never had it."""
        if key_id not in self._public:
            if not re.fullmatch(r"[0-9a-f]{1,32}", key_id or "") or not (self.folder / f"{key_id}.key").is_file():
                return None
            self._public[key_id] = self.private(key_id).public_key()
        return self._public[key_id]

    def _new_key(self) -> str:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        key_id = key_id_of(key.public_key())
        _write_once(self.folder / f"{key_id}.key", key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode())
        return key_id


def key_id_of(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _write_once(path: Path, text: str) -> None:
    """Write ``path`` whole (mode 0600) unless it exists: a private temporary file linked into place."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# -- what a certificate says ---------------------------------------------------------------------
def local_date(at) -> str:
    if at is None:
        return ""
    if isinstance(at, datetime):
        at = (at + LOCAL_OFFSET).date()
    return f"{at.year}年{at.month:02d}月{at.day:02d}日"


def completion_facts(app) -> list[list[str]]:
    """竣工验收备案证明: the filing and its project, as the 备案表 prints them."""
    pr = app.project
    return [
        ["工程名称", pr.name],
        ["报监登记号", pr.supervision_no],
        ["合同登记编号", pr.contract_no or ""],
        ["施工许可证号", app.permit_no or pr.permit_no or ""],
        ["工程地址", pr.address or ""],
        ["建设单位", pr.construction_unit.name],
        ["施工单位", pr.contractor.name if pr.contractor else ""],
        ["监理单位", pr.supervising_firm.name if pr.supervising_firm else ""],
        ["竣工验收日期", local_date(app.acceptance_date)],
        ["验收结论", app.conclusion or ""],
        ["主管部门", pr.authority.name],
        ["监督机构", pr.agency.name],
        ["上报日期", local_date(app.reported_at)],
        ["备案日期", local_date(app.finished_at)],
    ]


def closing_facts(app, subject: str) -> list[list[str]]:
    """办结通知书: which case, whose, on which project, and that it ended approved."""
    pr = app.project
    return [
        ["办理事项", catalog.entry_of(app).title],
        ["申请单位", app.applicant_org.name],
        ["工程名称", f"{pr.name}（报监登记号 {pr.supervision_no}）"],
        ["申请内容", subject],
        ["上报日期", local_date(app.reported_at)],
        ["办结日期", local_date(app.finished_at)],
        ["办理结果", "审核通过，业务已办结"],
    ]


def payload(cert: IssuedCertificate) -> bytes:
    """What the facts signature covers: every printed fact and who issued it when."""
    return json.dumps({"serial": cert.serial, "kind": cert.kind, "title": cert.title, "case_no": cert.case_no,
                       "facts": cert.facts, "issuer": cert.issuer_name,
                       "issued_at": cert.issued_at.replace(microsecond=0).isoformat()},
                      ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


@dataclass
class Verdict:
    status: str                                   # GENUINE | CHANGED | NOT_ISSUED | REVOKED
    detail: str                                   # why, in the page's words
    certificate: IssuedCertificate | None = None  # shown only when genuine or revoked
    via: str = "link"                             # link (the QR code) | upload

    @property
    def label(self) -> str:
        return VERDICTS[self.status]


class CertificateService:
    def __init__(self, engine: ProcessEngine, keys: KeyRing, public_url: str = ""):
        self.engine = engine
        self.keys = keys
        self.public_url = public_url.rstrip("/")

    # -- issuing --------------------------------------------------------------------------------
    def issue_for(self, app, issuer=None, supersede: bool = False, instance=None) -> IssuedCertificate | None:
        """Issue the case's certificate inside the approving command. ``issuer``: the approving
        organisation as (id, name) (None: the organisation of the case's last approval, read from its
        tasks); ``supersede``: revoke a valid older certificate of the case (a reissue); ``instance``:
        the case's process instance as the approving command has it (its id, subject and case
        number; None: read). Cases without a project (registrations) issue none."""
        if getattr(app, "project", None) is None or app.instance_id is None:
            return None
        entry = catalog.entry_of(app)
        if instance is None or instance.id != app.instance_id:
            instance = db.session.get(ProcessInstance, app.instance_id)
        if issuer is None:
            issuer = self._last_approver(app)
        kind = COMPLETION if entry.key == "completion_filing" else CLOSING
        facts = completion_facts(app) if kind == COMPLETION else closing_facts(app, instance.subject)
        now = utcnow().replace(microsecond=0)
        cert = IssuedCertificate(
            serial=next_case_no(SERIAL_PREFIX, (now + LOCAL_OFFSET).year), instance_id=instance.id,
            case_no=instance.case_no or "", kind=kind, title=TITLES[kind],
            facts=[["办件编号", instance.case_no or ""], *facts], issued_at=now, issuer_org_id=issuer[0],
            issuer_name=issuer[1], status=CERT_VALID)
        key_id = self.keys.current_id()
        cert.key_id, cert.signature = key_id, _b64(self.keys.private(key_id).sign(payload(cert)))
        cert.verify_base = self.base_url()   # the QR code's address, as at the approval
        if supersede:
            for older in db.session.scalars(select(IssuedCertificate).where(
                    IssuedCertificate.instance_id == instance.id, IssuedCertificate.status == CERT_VALID)):
                self._revoke(older, f"已由新证明 {cert.serial} 取代", issuer[1], now)
        # one INSERT of its own: the approval's only new row would otherwise be its only flush (a flush
        # costs the unit of work most of what writing the row does)
        insert_now(cert)
        return cert

    @staticmethod
    def _last_approver(app) -> tuple[int, str]:
        """The organisation that completed the case's last approving task (the project's competent
        authority if none is found)."""
        org = db.session.scalar(
            select(Organization).join(HumanTask, HumanTask.completed_by_org_id == Organization.id)
            .where(HumanTask.instance_id == app.instance_id, HumanTask.outcome == "approve")
            .order_by(HumanTask.completed_at.desc(), HumanTask.id.desc()).limit(1)) or app.project.authority
        return org.id, org.name

    def reissue(self, case_no: str, actor: Actor) -> IssuedCertificate:
        """A new certificate of an approved case from its facts as they are now (a correction); the
        older one is revoked as superseded. Logged in the case's operation log."""
        from .applications import application_for
        with self.engine.command():
            instance = db.session.scalar(select(ProcessInstance).where(ProcessInstance.case_no == case_no))
            app = application_for(instance.process_key, instance.id) if instance is not None else None
            if app is None or getattr(app, "project", None) is None:
                raise NotFound(f"办件编号 {case_no} 不存在")
            if not db.session.scalar(select(IssuedCertificate.id).where(IssuedCertificate.instance_id == instance.id)
                                     .limit(1)):
                raise DomainError("该办件未签发过证明，无需重新签发")
            cert = self.issue_for(app, supersede=True)
            self.engine.record(instance.id, actor, "重新签发证明", f"证明编号 {cert.serial}")
            return cert

    def pdf_of(self, cert: IssuedCertificate) -> bytes:
        """The certificate's PDF as issued: rendered, signed and stored on the first call, the
        stored bytes ever after. Raises ``pdf.FontMissing`` when the server has no Chinese font."""
        stored = cert.pdf
        if stored is not None:
            return stored
        data = self._signed_pdf(cert, self.keys.private(cert.key_id))
        with self.engine.command():
            # conditional: a concurrent first download may have stored its rendering (other bytes)
            written = db.session.execute(
                update(IssuedCertificate).where(IssuedCertificate.id == cert.id, IssuedCertificate.pdf.is_(None))
                .values(pdf=data, pdf_sha256=hashlib.sha256(data).hexdigest(),
                        pdf_signature=_PDF_FIELD.search(data).group(3).decode())
                .execution_options(synchronize_session=False)).rowcount
        db.session.expire(cert, ["pdf", "pdf_sha256", "pdf_signature"])
        if written:
            return data
        return cert.pdf   # the other download's, read back

    def _signed_pdf(self, cert: IssuedCertificate, key: Ed25519PrivateKey) -> bytes:
        document = pdf.Document(
            title=cert.title, number=f"证明编号：{cert.serial}", rows=[(k, v) for k, v in cert.facts],
            closing=[f"签发单位：{cert.issuer_name}", f"签发日期：{local_date(cert.issued_at)}"],
            qr_url=self.verify_url(cert), qr_caption="扫码核验真伪",
            note=(f"本{cert.title}由{SYSTEM_NAME}签发，附有电子签名。扫描二维码，或在 {self._verify_base(cert)}/verify "
                  f"上传本PDF文件，即可核验其真伪及是否被修改。"),
            keywords=f"{MARK} serial={cert.serial} key={cert.key_id} signature={PLACEHOLDER}",
            author=cert.issuer_name)
        blank = pdf.make_document(document)
        found = list(_PDF_FIELD.finditer(blank))
        assert len(found) == 1, "the signature field must appear once"
        signature = key.sign(blank).hex().encode()
        start, end = found[0].span(3)
        return blank[:start] + signature + blank[end:]

    def base_url(self) -> str:
        """PUBLIC_URL; unset, the address of the request that approved (docs/operators.md)."""
        if self.public_url:
            return self.public_url
        from flask import has_request_context, request
        return request.url_root.rstrip("/") if has_request_context() else "http://localhost"

    def _verify_base(self, cert: IssuedCertificate) -> str:
        """The address fixed at issue (certificates issued before it was kept: the present one)."""
        return cert.verify_base or self.base_url()

    def verify_url(self, cert: IssuedCertificate) -> str:
        return f"{self._verify_base(cert)}/verify/{cert.serial}?s={cert.signature[:SHORT_SIGNATURE]}"

    # -- verifying (public) ----------------------------------------------------------------------
    def verify_link(self, serial: str, short: str) -> Verdict:
        """The QR code's link: the serial and the start of its facts signature."""
        cert = db.session.scalar(select(IssuedCertificate).where(IssuedCertificate.serial == (serial or "")[:30]))
        short = (short or "")[:len(cert.signature) if cert else 0]
        if cert is None or len(short) < SHORT_SIGNATURE or \
                not hmac.compare_digest(cert.signature[:len(short)].encode(), short.encode()):
            return Verdict(NOT_ISSUED, "本系统没有签发过与该二维码相符的证明。")
        public = self.keys.public(cert.key_id)
        if public is None:
            return Verdict(NOT_ISSUED, "签发该证明的密钥不在本系统中，无法确认其真伪。")
        try:
            public.verify(_unb64(cert.signature), payload(cert))
        except (InvalidSignature, ValueError):
            return Verdict(CHANGED, "该证明的登记内容与其电子签名不符。")
        return self._standing(cert, "link", "二维码对应的证明由本系统签发。请核对手中文件与下列内容一致；"
                                            "如需确认文件未被修改，请上传PDF文件核验。")

    def verify_pdf(self, data: bytes) -> Verdict:
        """An uploaded PDF: its embedded signature checked over its exact bytes."""
        found = list(_PDF_FIELD.finditer(data))
        if not found:
            return Verdict(NOT_ISSUED, "文件中没有本系统的电子签名。", via="upload")
        if len(found) > 1:   # e.g. saved again by an editor, which appends a copy of the document information
            return Verdict(CHANGED, "文件在签发后被修改过（其中的签名信息出现了不止一次）。", via="upload")
        serial, key_id, signature = (g.decode() for g in found[0].groups())
        public = self.keys.public(key_id)
        if public is None:
            return Verdict(NOT_ISSUED, "文件的电子签名不是本系统的密钥所签。", via="upload")
        start, end = found[0].span(3)
        try:
            public.verify(bytes.fromhex(signature), data[:start] + PLACEHOLDER.encode() + data[end:])
        except (InvalidSignature, ValueError):
            return Verdict(CHANGED, "文件的电子签名与文件内容不符：文件在签发后被修改过。", via="upload")
        cert = db.session.scalar(select(IssuedCertificate).where(IssuedCertificate.serial == serial))
        if cert is None:
            return Verdict(NOT_ISSUED, "本系统没有该编号的证明。", via="upload")
        if cert.pdf_sha256 != hashlib.sha256(data).hexdigest():
            return Verdict(CHANGED, "文件与本系统签发的证明不一致。", via="upload")
        return self._standing(cert, "upload", "文件由本系统签发，签发后未被修改。")

    @staticmethod
    def _standing(cert, via, genuine_detail) -> Verdict:
        if cert.status == CERT_REVOKED:
            return Verdict(REVOKED, f"该证明已于{local_date(cert.revoked_at)}作废。原因：{cert.revoked_reason}",
                           cert, via)
        return Verdict(GENUINE, genuine_detail, cert, via)

    # -- the case's pages ------------------------------------------------------------------------
    def of_instance(self, instance_id: int | None) -> list[IssuedCertificate]:
        if instance_id is None:
            return []
        return list(db.session.scalars(select(IssuedCertificate).where(IssuedCertificate.instance_id == instance_id)
                                       .order_by(IssuedCertificate.id.desc())))

    def for_download(self, principal: Principal, serial: str) -> IssuedCertificate:
        """The certificate if the principal may see its case (its applicant, the project's
        regulators, a platform administrator); anyone else: NotFound."""
        from .applications import application_for
        cert = db.session.scalar(select(IssuedCertificate).where(IssuedCertificate.serial == serial))
        if cert is None:
            raise NotFound("证明不存在")
        instance = db.session.get(ProcessInstance, cert.instance_id)
        app = application_for(instance.process_key, instance.id)
        if app is None:
            raise NotFound("证明不存在")
        if principal.is_admin or app.applicant_org_id == principal.org_id:
            return cert
        if principal.is_regulator and principal.org_id in app.project.regulator_ids:
            return cert
        raise NotFound("证明不存在")

    # -- administration --------------------------------------------------------------------------
    def list_all(self, principal: Principal, limit: int = 200) -> list[IssuedCertificate]:
        _require_admin(principal)
        return list(db.session.scalars(select(IssuedCertificate).order_by(IssuedCertificate.id.desc()).limit(limit)))

    def revoke(self, serial: str, reason: str, actor: Actor, principal: Principal | None = None) -> IssuedCertificate:
        """作废: the certificate is reported as revoked from now on, with the reason; logged in the
        case's operation log. ``principal``: the administrator acting from the web (None: the CLI)."""
        if principal is not None:
            _require_admin(principal)
        reason = (reason or "").strip()
        if not reason:
            raise DomainError("作废原因：请填写作废原因", "reason")
        if len(reason) > REASON_MAX:
            raise DomainError(f"作废原因：不能超过 {REASON_MAX} 个字", "reason")
        with self.engine.command():
            serial = (serial or "").strip()
            cert = db.session.scalar(select(IssuedCertificate).where(IssuedCertificate.serial == serial))
            if cert is None:
                raise NotFound(f"证明编号 {serial} 不存在")
            if cert.status == CERT_REVOKED:
                raise DomainError("该证明已作废")
            self._revoke(cert, reason, f"{actor.org_name} {actor.user_name}".strip(), utcnow())
            self.engine.record(cert.instance_id, actor, REVOKE_ACTION, f"证明编号 {cert.serial}：{reason}")
            return cert

    @staticmethod
    def _revoke(cert, reason, by, at) -> None:
        cert.status, cert.revoked_reason, cert.revoked_by, cert.revoked_at = CERT_REVOKED, reason, by, at


def _require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise Forbidden("仅平台管理员可以作废证明")


