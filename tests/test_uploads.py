"""Uploaded files: type by content, size limit, stored by content hash (architecture.md)."""
import hashlib

import pytest

from handlers.errors import DomainError
from handlers.uploads import UploadStore, safe_filename

PDF = b"%PDF-1.7 test"
PNG = b"\x89PNG\r\n\x1a\n...."
DOCX = b"PK\x03\x04 office"


@pytest.fixture()
def store(tmp_path):
    return UploadStore(tmp_path / "files", max_bytes=1024)


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
    assert not store.root.exists() or not any(store.root.rglob("*"))


def test_stored_by_content_hash_once(store):
    first = store.save(PDF, "../../etc/passwd.pdf")
    again = store.save(PDF, "copy.pdf")
    digest = hashlib.sha256(PDF).hexdigest()
    assert first.sha256 == again.sha256 == digest and first.size == len(PDF)
    assert first.filename == "passwd.pdf"          # no path survives
    path = store.path_for(digest)
    assert path.read_bytes() == PDF and path.parent.parent == store.root
    assert [p for p in store.root.rglob("*") if p.is_file()] == [path]


def test_path_for_refuses_anything_but_a_digest(store):
    for bad in ("../" * 20, "a" * 63, "G" * 64, "../../" + "a" * 58):
        with pytest.raises(ValueError):
            store.path_for(bad)


def test_safe_filename():
    assert safe_filename("C:\\Users\\张三\\申请表.pdf") == "申请表.pdf"
    assert safe_filename("") == "附件"
    assert len(safe_filename("长" * 300 + ".pdf")) == 200
