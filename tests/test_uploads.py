"""Uploaded files: type by content, size limit, stored by content hash (architecture.md)."""
import hashlib

import pytest
from sqlalchemy import func, select

from engine.db import db
from handlers.errors import DomainError
from handlers.models import UploadBlob
from handlers.uploads import UploadStore, safe_filename

PDF = b"%PDF-1.7 test"
PNG = b"\x89PNG\r\n\x1a\n...."
DOCX = b"PK\x03\x04 office"


@pytest.fixture()
def store(ctx):
    return UploadStore(max_bytes=1024)


def stored_rows() -> int:
    return db.session.scalar(select(func.count()).select_from(UploadBlob))


@pytest.mark.parametrize("data, name, ctype", [
    (PDF, "a.pdf", "application/pdf"), (PNG, "a.PNG", "image/png"), (b"\xff\xd8\xff\xe0", "照片.jpeg", "image/jpeg"),
    (b"GIF89a..", "x.gif", "image/gif"),
    (DOCX, "申请表.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1..", "old.xls", "application/vnd.ms-excel"),
])
def test_accepted_types(store, data, name, ctype):
    assert store.check(data, name) == ctype


@pytest.mark.parametrize("data, name, reason", [
    (b"MZ\x90\x00", "a.exe", "不支持的文件类型"),
    (PNG, "a.pdf", "文件内容与扩展名不符"),      # content and name disagree
    (b"MZ\x90\x00", "a.pdf", "文件内容与扩展名不符"),  # a program renamed .pdf
    (PDF, "a.txt", "不支持的文件类型"),
    (b"<script>alert(1)</script>", "a.html", "不支持的文件类型"),
    (DOCX, "a.zip", "不支持的文件类型"),          # a zip is not an office document
    (b"", "a.pdf", "文件为空"),
    (b"%PDF-" + b"0" * 1024, "big.pdf", "文件大小不能超过 1 KB"),
])
def test_refused_files_write_nothing(store, data, name, reason):
    with pytest.raises(DomainError) as exc:
        store.save(data, name, "unlock_form", "解锁申请表")
    assert exc.value.message.startswith("解锁申请表：") and reason in exc.value.message
    assert exc.value.field == "unlock_form"        # the field's name; the label is for the message
    assert stored_rows() == 0


def test_stored_by_content_hash_once(store):
    first = store.save(PDF, "../../etc/passwd.pdf")
    again = store.save(PDF, "copy.pdf")
    digest = hashlib.sha256(PDF).hexdigest()
    assert first.sha256 == again.sha256 == digest and first.size == len(PDF)
    assert first.filename == "passwd.pdf"          # no path survives
    assert store.open(digest).read() == PDF
    assert stored_rows() == 1
    assert store.open("0" * 64) is None


def test_safe_filename():
    assert safe_filename("C:\\Users\\张三\\申请表.pdf") == "申请表.pdf"
    assert safe_filename("") == "附件"
    assert len(safe_filename("长" * 300 + ".pdf")) == 200
