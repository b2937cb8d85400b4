"""PDF documents with an embedded CJK font (ReportLab): ``make_document`` is the one way to make one.

The font is a TrueType file of the machine, embedded as a subset, so the PDF shows the same on
every reader (ReportLab's built-in CID fonts such as STSong-Light embed nothing and leave the
glyphs to the reader). ``scripts/install-fonts`` installs Debian's fonts-wqy-zenhei; the
``PDF_CJK_FONT`` environment variable names another TrueType (.ttf/.ttc) file.

Documents are rendered invariantly (no creation time, no random document id), so the same facts
give the same bytes with the same ReportLab and font.
"""
import io
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import segno
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from xml.sax.saxutils import escape

from .errors import DomainError

FONT_NAME = "CJK"
FONT_ENV = "PDF_CJK_FONT"
# (file, index in a collection): the first that exists is used
FONT_CANDIDATES = (
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/arphic/uming.ttc", 0),
    ("/usr/share/fonts/truetype/arphic/ukai.ttc", 0),
)


class FontMissing(DomainError):
    """No CJK TrueType font on this machine: run scripts/install-fonts (docs/operators.md). A refusal,
    so the approval that wanted the document is refused whole, with this message, and nothing changes."""


@cache
def font_name() -> str:
    """Register the CJK font once per process and return its ReportLab name."""
    candidates = [(os.environ[FONT_ENV], 0)] if os.environ.get(FONT_ENV) else list(FONT_CANDIDATES)
    for path, index in candidates:
        if Path(path).is_file():
            pdfmetrics.registerFont(TTFont(FONT_NAME, path, subfontIndex=index))
            return FONT_NAME
    raise FontMissing("没有可嵌入PDF的中文字体：请运行 scripts/install-fonts（安装 fonts-wqy-zenhei）"
                      f"或以 {FONT_ENV} 指定 TrueType 字体文件")


@dataclass
class Document:
    """What a one-page document shows, top to bottom."""
    title: str                                   # 竣工验收备案证明
    number: str                                  # the line under the title (编号：…)
    rows: list[tuple[str, str]]                  # the facts table: label, value
    closing: list[str] = field(default_factory=list)   # right-aligned lines under the table (issuer, date)
    qr_url: str | None = None                    # drawn bottom left, with qr_caption under it
    qr_caption: str = ""
    note: str = ""                               # small print at the bottom
    keywords: str = ""                           # the PDF's /Keywords (machine-readable data)
    author: str = ""


class _QrCode(Flowable):
    """A QR code drawn as vector squares (segno computes the matrix)."""

    def __init__(self, url: str, size: float):
        super().__init__()
        self.qr = segno.make(url, error="m")
        self.size = size
        self.width = self.height = size

    def draw(self):
        matrix = [list(row) for row in self.qr.matrix]
        border = 2
        n = len(matrix) + 2 * border
        cell = self.size / n
        c = self.canv
        c.setFillColor(colors.black)
        for y, row in enumerate(matrix):
            for x, dark in enumerate(row):
                if dark:
                    c.rect((x + border) * cell, self.size - (y + border + 1) * cell, cell, cell, stroke=0, fill=1)


def make_document(doc: Document) -> bytes:
    """The PDF bytes of ``doc`` on one A4 page, with the CJK font embedded."""
    font = font_name()
    body = ParagraphStyle("body", fontName=font, fontSize=11, leading=16, wordWrap="CJK")
    label = ParagraphStyle("label", parent=body, alignment=TA_CENTER)
    title = ParagraphStyle("title", fontName=font, fontSize=24, leading=32, alignment=TA_CENTER, spaceAfter=4 * mm)
    number = ParagraphStyle("number", fontName=font, fontSize=10.5, leading=14, alignment=TA_RIGHT)
    closing = ParagraphStyle("closing", fontName=font, fontSize=12, leading=20, alignment=TA_RIGHT)
    small = ParagraphStyle("small", fontName=font, fontSize=8.5, leading=12, textColor=colors.HexColor("#555555"),
                           wordWrap="CJK")
    caption = ParagraphStyle("caption", parent=small, alignment=TA_CENTER)

    def p(text, style):
        return Paragraph(escape(str(text)).replace("\n", "<br/>"), style)

    width = A4[0] - 40 * mm
    table = Table([[p(k, label), p(v or "—", body)] for k, v in doc.rows], colWidths=[38 * mm, width - 38 * mm])
    table.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.6, colors.HexColor("#333333")),
        ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#F2F2F2")),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 5), ("BOTTOMPADDING", (0, 0), (-1, -1), 5),
    ]))
    story = [p(doc.title, title), p(doc.number, number), Spacer(1, 3 * mm), table, Spacer(1, 10 * mm)]
    closing_block = [p(line, closing) for line in doc.closing]
    if doc.qr_url:
        qr = Table([[_QrCode(doc.qr_url, 32 * mm)], [p(doc.qr_caption, caption)]], colWidths=[40 * mm])
        qr.setStyle(TableStyle([("ALIGN", (0, 0), (-1, -1), "CENTER")]))
        bottom = Table([[qr, closing_block]], colWidths=[45 * mm, width - 45 * mm])
        bottom.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "BOTTOM")]))
        story.append(bottom)
    else:
        story.extend(closing_block)
    if doc.note:
        story += [Spacer(1, 8 * mm), p(doc.note, small)]
    out = io.BytesIO()
    SimpleDocTemplate(out, pagesize=A4, leftMargin=20 * mm, rightMargin=20 * mm, topMargin=22 * mm,
                      bottomMargin=18 * mm, title=doc.title, author=doc.author, subject=doc.number,
                      keywords=doc.keywords, creator="ynqs", invariant=1).build(story)
    return out.getvalue()
