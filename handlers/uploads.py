"""Uploaded files: size and type limits, stored by content hash outside the web root."""
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import DomainError

MAX_BYTES = 10 * 1024 * 1024
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


class UploadStore:
    def __init__(self, root: str | Path, max_bytes: int = MAX_BYTES):
        self.root = Path(root)
        self.max_bytes = max_bytes

    def check(self, data: bytes, filename: str, field: str = "attachments", label: str = "附件") -> str:
        """The content type of an acceptable file, or DomainError for the field (its name), the
        message naming it by its label and saying why."""
        if not data:
            raise DomainError(f"{label}：文件为空", field)
        if len(data) > self.max_bytes:
            raise DomainError(f"{label}：文件大小超过限制（最大 {self.max_bytes // (1024 * 1024)} MB）", field)
        ext = os.path.splitext(filename or "")[1].lower()
        for magic, exts, ctype in _SIGNATURES:
            if data.startswith(magic) and ext in exts:
                return ctype or _OFFICE_TYPES[ext]
        raise DomainError(f"{label}：不支持的文件类型，仅允许 {ALLOWED_LABEL}", field)

    def save(self, data: bytes, filename: str, field: str = "attachments", label: str = "附件") -> StoredFile:
        content_type = self.check(data, filename, field, label)
        digest = hashlib.sha256(data).hexdigest()
        path = self.path_for(digest)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)   # atomic: a reader never sees half a file
        return StoredFile(digest, len(data), content_type, safe_filename(filename))

    def path_for(self, digest: str) -> Path:
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError("bad digest")
        return self.root / digest[:2] / digest


def safe_filename(name: str) -> str:
    """Keep the user's name for display only, stripped of any path."""
    base = os.path.basename((name or "").replace("\\", "/")).strip()
    return base[:200] or "附件"


def prune_orphans(store: UploadStore, min_age_seconds: int = 3600, dry_run: bool = False) -> list[Path]:
    """Remove stored files no attachment refers to (left by deleted attachments or by uploads whose
    transaction rolled back). Files younger than ``min_age_seconds`` are kept: an upload may be
    in flight."""
    import time

    from sqlalchemy import select

    from engine.db import db

    from .models import Attachment

    referenced = set(db.session.scalars(select(Attachment.sha256).distinct()))
    cutoff = time.time() - min_age_seconds
    removed = []
    for path in sorted(store.root.glob("??/*")):
        if path.is_file() and path.name not in referenced and path.stat().st_mtime < cutoff:
            if not dry_run:
                path.unlink()
            removed.append(path)
    return removed
