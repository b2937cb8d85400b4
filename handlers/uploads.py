"""Uploaded files: size and type limits, stored by content hash outside the web root."""
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import DomainError

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


class UploadStore:
    def __init__(self, root: str | Path, max_bytes: int = MAX_BYTES, max_files: int = MAX_FILES):
        self.root = Path(root)
        self.max_bytes = max_bytes
        self.max_files = max_files

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
