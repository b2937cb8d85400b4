"""Uploaded files: size and type limits, then the bytes into the attachment store, by content hash.

The store is an interface (``AttachmentStore``: put, open, delete, prune) so that another place
for the bytes can be added behind it; the one implemented is ``DatabaseStore``: the bytes are rows
of ``upload_blob`` in the application's own database (PostgreSQL, or SQLite for the embedded
default), written in the transaction of the action that attaches them and read back in chunks.
Every host of a farm sees them, and a database backup holds them (docs/operators.md).
"""
import hashlib
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Protocol

from sqlalchemy import LargeBinary, bindparam, delete, exists, func, select

from engine.db import db, write_values
from engine.models import utcnow

from .errors import DomainError
from .models import Attachment, UploadBlob

MAX_BYTES = 10 * 1024 * 1024
MAX_FILES = 10                 # files in one request (one save)
MAX_NAME = 200                 # characters of a stored display name, extension included
_MAX_EXT = 10
# removed from display names: C0/C1 controls (NUL included), bidi embeddings, overrides and isolates
# (U+202A-U+202E, U+2066-U+2069) and marks (U+200E/F), which can make "exe.pdf" read as "pdf.exe"
_UNSAFE_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# type by content, never by the client's claim: (magic prefix, extensions, content type)
_SIGNATURES = [
    (b"%PDF-", {".pdf"}, "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", {".png"}, "image/png"),
    (b"\xff\xd8\xff", {".jpg", ".jpeg"}, "image/jpeg"),
    (b"GIF87a", {".gif"}, "image/gif"),
    (b"GIF89a", {".gif"}, "image/gif"),
    (b"PK\x03\x04", {".docx", ".xlsx", ".pptx"}, None),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", {".doc", ".xls", ".ppt"}, None),
]
_OFFICE_TYPES = {
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".doc": "application/msword", ".xls": "application/vnd.ms-excel", ".ppt": "application/vnd.ms-powerpoint",
}
ALLOWED_LABEL = "PDF、图片（PNG/JPG/GIF）、Office 文档（Word/Excel/PowerPoint）"


@dataclass
class StoredFile:
    sha256: str
    size: int
    content_type: str
    filename: str


@dataclass
class Blob:
    """Stored bytes being read: their size, then the bytes in chunks (read as they are consumed)."""
    size: int
    chunks: Iterator[bytes]

    def read(self) -> bytes:
        return b"".join(self.chunks)


@dataclass
class Orphan:
    sha256: str
    size: int


class AttachmentStore(Protocol):
    """Where the bytes of uploads live, named by their SHA-256. ``put`` belongs to the caller's
    transaction: the bytes are kept only if the action that attaches them commits."""

    def put(self, digest: str, data: bytes, content_type: str, touch: bool = True,
            stored_at: datetime | None = None) -> None:
        """Store the bytes (once per digest), as stored at ``stored_at`` (default: now). ``touch``
        marks bytes already there as just stored again, so that pruning spares them while the
        upload that found them is in flight."""

    def open(self, digest: str) -> Blob | None:
        """The bytes, or None when the store has none under this digest."""

    def delete(self, digests: Iterable[str]) -> int:
        """Remove bytes; the number removed."""

    def prune(self, older_than: datetime, dry_run: bool = False) -> list[Orphan]:
        """Bytes no attachment refers to, stored before ``older_than``: removed (or only listed)."""


class DatabaseStore:
    """The bytes in the ``upload_blob`` table of the application's database.

    Writing is one ``INSERT … ON CONFLICT`` in the session's transaction (content already stored is
    kept once; its ``stored_at`` is refreshed, which also makes a concurrent prune wait for the row
    and then spare it). Reading on PostgreSQL takes ``CHUNK`` bytes per statement with ``substr``
    (the column is stored uncompressed, so each statement reads only its chunk's pages) on a
    connection checked out for that chunk alone: a large file never sits whole in memory and a slow
    download holds no connection between chunks. SQLite reads a file whole (its substr reads the
    whole value anyway).
    """
    CHUNK = 1024 * 1024

    def put(self, digest: str, data: bytes, content_type: str, touch: bool = True,
            stored_at: datetime | None = None) -> None:
        # the blob refers to nothing the session holds: what the command changed so far is flushed
        # with its next read or at its end, in one flush with the attachment row, not here
        write_values(_put_statement(db.engine.dialect.name, touch), {
            "sha256": digest, "size": len(data), "content_type": content_type, "data": data,
            "stored_at": stored_at or utcnow()})

    def open(self, digest: str) -> Blob | None:
        engine = db.engine
        if engine.dialect.name != "postgresql":
            row = db.session.execute(select(UploadBlob.size, UploadBlob.data).where(UploadBlob.sha256 == digest)).first()
            if row is None:
                return None
            data = bytes(row.data)
            return Blob(len(data), iter([data[i:i + self.CHUNK] for i in range(0, len(data), self.CHUNK)] or [b""]))

        def part(offset: int):
            return func.substr(UploadBlob.data, offset + 1, self.CHUNK, type_=LargeBinary)

        def chunk(offset: int):
            return select(part(offset)).where(UploadBlob.sha256 == digest)

        row = db.session.execute(select(UploadBlob.size, part(0)).where(UploadBlob.sha256 == digest)).first()
        if row is None:
            return None
        size, head = row

        def chunks():
            yield bytes(head)
            for offset in range(self.CHUNK, size, self.CHUNK):
                with engine.connect() as conn:
                    part = conn.execute(chunk(offset)).scalar()
                    conn.commit()
                if part is None:
                    raise LookupError(f"attachment bytes {digest} disappeared while being read")
                yield bytes(part)
        return Blob(size, chunks())

    def delete(self, digests: Iterable[str]) -> int:
        digests = list(digests)
        if not digests:
            return 0
        return db.session.execute(delete(UploadBlob).where(UploadBlob.sha256.in_(digests))).rowcount

    def prune(self, older_than: datetime, dry_run: bool = False) -> list[Orphan]:
        orphaned = (UploadBlob.stored_at < older_than) & ~exists().where(Attachment.sha256 == UploadBlob.sha256)
        found = [Orphan(d, size) for d, size in db.session.execute(
            select(UploadBlob.sha256, UploadBlob.size).where(orphaned).order_by(UploadBlob.sha256))]
        if found and not dry_run:
            # the condition again: a row refreshed or referred to since the SELECT stays
            gone = set(db.session.scalars(delete(UploadBlob).where(
                UploadBlob.sha256.in_([o.sha256 for o in found]), orphaned).returning(UploadBlob.sha256)))
            found = [o for o in found if o.sha256 in gone]
        return found


def _insert(dialect: str):
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


_PUTS: dict = {}   # (dialect, touch) -> DatabaseStore.put's statement, its values parameters


def _put_statement(dialect: str, touch: bool):
    stmt = _PUTS.get((dialect, touch))
    if stmt is None:   # built once: a Core statement on the table, not an ORM one built per call
        table = UploadBlob.__table__
        stmt = _insert(dialect)(table).values(**{c: bindparam(c) for c in
                                                 ("sha256", "size", "content_type", "data", "stored_at")})
        if touch:
            stmt = stmt.on_conflict_do_update(index_elements=["sha256"], set_={"stored_at": stmt.excluded.stored_at})
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=["sha256"])
        _PUTS[(dialect, touch)] = stmt
    return stmt


class UploadStore:
    """The upload rules (size, count, type by content) in front of the attachment store."""

    def __init__(self, max_bytes: int = MAX_BYTES, max_files: int = MAX_FILES, blobs: AttachmentStore | None = None):
        self.max_bytes = max_bytes
        self.max_files = max_files
        self.blobs = blobs if blobs is not None else DatabaseStore()

    @property
    def size_limit_label(self) -> str:
        return size_label(self.max_bytes)

    def too_large_message(self, label: str = "附件") -> str:
        return f"{label}：文件大小不能超过 {self.size_limit_label}"

    def too_many_message(self, label: str = "附件") -> str:
        return f"{label}：每次最多上传 {self.max_files} 个文件"

    def check_count(self, count: int, field: str = "attachments", label: str = "附件") -> None:
        if count > self.max_files:
            raise DomainError(self.too_many_message(label), field)

    def check(self, data: bytes, filename: str, field: str = "attachments", label: str = "附件") -> str:
        """The content type of an acceptable file, or DomainError for the field (its name), the
        message naming it by its label and saying why."""
        if not data:
            raise DomainError(f"{label}：文件为空", field)
        if len(data) > self.max_bytes:
            raise DomainError(self.too_large_message(label), field)
        ext = os.path.splitext(filename or "")[1].lower()
        for magic, exts, ctype in _SIGNATURES:
            if data.startswith(magic) and ext in exts:
                return ctype or _OFFICE_TYPES[ext]
        if any(ext in exts for _magic, exts, _ctype in _SIGNATURES):
            # an allowed name on other content, e.g. a program renamed .pdf
            raise DomainError(f"{label}：文件内容与扩展名不符", field)
        raise DomainError(f"{label}：不支持的文件类型，仅允许 {ALLOWED_LABEL}", field)

    def save(self, data: bytes, filename: str, field: str = "attachments", label: str = "附件") -> StoredFile:
        """Check the file, then store its bytes in the caller's transaction."""
        content_type = self.check(data, filename, field, label)
        digest = hashlib.sha256(data).hexdigest()
        self.blobs.put(digest, data, content_type)
        return StoredFile(digest, len(data), content_type, safe_filename(filename))

    def open(self, digest: str) -> Blob | None:
        return self.blobs.open(digest)


def size_label(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):g} MB"
    return f"{max(1, size // 1024)} KB"


def safe_filename(name: str, max_length: int = MAX_NAME) -> str:
    """Keep the user's name for display only: no path, no control or bidi characters, and at most
    ``max_length`` characters, cut from the stem so that the extension survives."""
    base = os.path.basename(_UNSAFE_CHARS.sub("", name or "").replace("\\", "/")).strip()
    stem, ext = os.path.splitext(base)
    if not ext and stem.startswith(".") and stem.count(".") == 1:   # ".pdf": an extension only
        stem, ext = "", stem
    if len(ext) > _MAX_EXT:
        stem, ext = base, ""
    base = stem[:max_length - len(ext)].rstrip() + ext
    return base if stem.strip() else "附件" + ext


def prune_orphans(store: UploadStore, min_age_seconds: int = 3600, dry_run: bool = False) -> list[Orphan]:
    """Remove stored bytes no attachment refers to (left by deleted attachments). Bytes stored or
    found again by an upload within ``min_age_seconds`` are kept: that upload may be in flight."""
    found = store.blobs.prune(utcnow() - timedelta(seconds=min_age_seconds), dry_run)
    db.session.commit()
    return found


@dataclass
class MoveReport:
    moved: list[tuple[Path, int]]     # files whose bytes were written to the store, with their size
    present: list[Path]               # files whose bytes the store already held (verified)
    failed: list[tuple[Path, str]]    # files left in place, and why

    @property
    def moved_bytes(self) -> int:
        return sum(size for _path, size in self.moved)


def move_folder_into_store(store: UploadStore, root: str | Path) -> MoveReport:
    """``flask uploads migrate``: move the files of the upload folder of earlier versions (named
    ``ab/abcdef…`` by their SHA-256) into the attachment store, one transaction per file.

    A file is read, its SHA-256 checked against its name, its bytes stored (unless the store holds
    them already) and committed, read back from the store and checked again; only then is the file
    deleted. Whatever fails leaves the file where it is, with the reason; so the command can be run
    again, and once everything is moved it finds nothing to do. The bytes keep the file's time as
    their ``stored_at``, so that an orphaned file stays an old orphan for ``flask uploads prune``.
    """
    root = Path(root)
    report = MoveReport([], [], [])
    if not root.is_dir():
        return report
    for path in sorted(p for p in root.glob("*/*") if p.is_file()):
        digest = path.name
        if not _is_digest(digest) or path.parent.name != digest[:2]:
            report.failed.append((path, "not an upload (the name is not its SHA-256)"))
            continue
        try:
            data = path.read_bytes()
            mtime = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).replace(tzinfo=None)
        except OSError as e:
            report.failed.append((path, f"cannot be read: {e.strerror or e}"))
            continue
        if hashlib.sha256(data).hexdigest() != digest:
            report.failed.append((path, "its content does not match its name (SHA-256 differs)"))
            continue
        held = store.open(digest) is not None
        if not held:
            content_type = db.session.scalar(select(Attachment.content_type)
                                             .where(Attachment.sha256 == digest).limit(1)) or _sniff(data)
            store.blobs.put(digest, data, content_type, touch=False, stored_at=mtime)
        db.session.commit()
        copy = store.open(digest)
        if copy is None or hashlib.sha256(copy.read()).hexdigest() != digest:
            report.failed.append((path, "the stored copy does not verify (SHA-256 differs)"))
            continue
        try:
            path.unlink()
        except OSError as e:
            report.failed.append((path, f"stored and verified, but cannot be deleted: {e.strerror or e}"))
            continue
        if held:
            report.present.append(path)
        else:
            report.moved.append((path, len(data)))
        try:
            path.parent.rmdir()   # the last file of its folder
        except OSError:
            pass
    return report


def _is_digest(name: str) -> bool:
    return len(name) == 64 and all(c in "0123456789abcdef" for c in name)


def _sniff(data: bytes) -> str:
    """A file's type by its first bytes alone (the attachments that named it are gone)."""
    return next((ctype for magic, _exts, ctype in _SIGNATURES if ctype and data.startswith(magic)),
                "application/octet-stream")
