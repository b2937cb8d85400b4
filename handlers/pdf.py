"""Printable PDF documents with an embedded CJK font (ReportLab): the 补正材料通知书, the
certificates (竣工验收备案证明, 办结通知书) and any other document the platform prints.

``cjk_font()`` registers a TrueType font that carries Chinese glyphs, so each PDF embeds the
subset of glyphs it uses and reads the same in any viewer. ReportLab's built-in CID fonts
(STSong-Light) embed nothing and render only where Adobe's Asian font pack is installed, so they
are not used. The font is the file named by the ``PDF_FONT`` setting, or the first of
``FONT_CANDIDATES`` found (``scripts/install-fonts`` installs Debian's fonts-wqy-zenhei). Without
one a document is refused with a clear message (FontMissing): a download says so. An approval
issues its certificate without rendering it (handlers.certificates renders on the first download),
so a missing font never holds up a case.

Two ways to make a document: ``build(flowables, …)`` for a free layout in ``styles()``, and
``make_document(Document)`` for the one-page certificate layout (a facts table, the issuer and a
QR code). Both render invariantly (no creation time, no random document id), so the same content
gives the same bytes with the same ReportLab and font.
"""
import io
import logging
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

from .errors import DomainError

log = logging.getLogger(__name__)

FONT_NAME = "CJK"
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",           # Debian fonts-wqy-zenhei
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",         # Debian fonts-wqy-microhei
    "/usr/share/fonts/truetype/arphic/uming.ttc",             # Debian fonts-arphic-uming
    "/usr/share/fonts/truetype/arphic/ukai.ttc",              # Debian fonts-arphic-ukai
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)
FONT_MISSING = "服务器缺少中文字体，暂时无法生成 PDF 文件，请联系平台管理员"

_configured: str | None = None
_registered: str | None = None


class FontMissing(DomainError):
    """No usable CJK TrueType font: the operator runs scripts/install-fonts or sets PDF_FONT
    (docs/operators.md). A refusal in the users' words; the log names the remedy."""

    def __init__(self):
        super().__init__(FONT_MISSING)


def configure(path: str | None) -> None:
    """The operator's font file (``PDF_FONT``); None: look for one of FONT_CANDIDATES."""
    global _configured, _registered
    if path != _configured:
        _configured, _registered = path, None


def font_path() -> Path | None:
    for candidate in ((_configured,) if _configured else FONT_CANDIDATES):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def cjk_font() -> str:
    """The registered CJK font's name, registered on first use (raises FontMissing)."""
    global _registered
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    path = font_path()
    if path is None:
        log.error("no CJK TrueType font for PDF documents: run scripts/install-fonts or set PDF_FONT")
        raise FontMissing()
    if _registered != str(path):
        try:
            pdfmetrics.registerFont(TTFont(FONT_NAME, str(path), subfontIndex=0))
        except Exception as exc:   # a file that is not a usable TrueType font
            log.error("PDF_FONT %s is not a usable TrueType font: %s", path, exc)
            raise FontMissing() from exc
        _registered = str(path)
    return FONT_NAME


def text(value) -> str:
    """Text for a Paragraph: ReportLab reads a small markup, so <, > and & are escaped."""
    return escape("" if value is None else str(value)).replace("\n", "<br/>")


# -- free layout -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Styles:
    title: object
    body: object
    small: object
    cell: object
    heading: object


def styles() -> Styles:
    """Paragraph styles in the CJK font, wrapping Chinese text anywhere (wordWrap CJK)."""
    from reportlab.lib.enums import TA_CENTER
    from reportlab.lib.styles import ParagraphStyle
    font = cjk_font()
    body = ParagraphStyle("body", fontName=font, fontSize=11, leading=18, wordWrap="CJK")
    return Styles(
        title=ParagraphStyle("title", parent=body, fontSize=20, leading=28, alignment=TA_CENTER, spaceAfter=6),
        body=body,
        small=ParagraphStyle("small", parent=body, fontSize=9, leading=13),
        cell=ParagraphStyle("cell", parent=body, fontSize=10, leading=15),
        heading=ParagraphStyle("heading", parent=body, fontSize=12, leading=20, spaceBefore=8, spaceAfter=4),
    )


def build(flowables: list, title: str, author: str = "", subject: str = "") -> bytes:
    """The document as PDF bytes, A4 with 2.2 cm margins; ``title`` is its metadata title."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import cm
    from reportlab.platypus import SimpleDocTemplate
    cjk_font()
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, leftMargin=2.2 * cm, rightMargin=2.2 * cm, topMargin=2.2 * cm,
                            bottomMargin=2.2 * cm, title=title, author=author, subject=subject,
                            creator="质量安全管理系统", invariant=1)
    doc.build(flowables)
    return out.getvalue()


# -- the certificate layout --------------------------------------------------------------------
@dataclass
class Document:
    """What a one-page certificate shows, top to bottom."""
    title: str                                   # 竣工验收备案证明
    number: str                                  # the line under the title (编号：…)
    rows: list[tuple[str, str]]                  # the facts table: label, value
    closing: list[str] = field(default_factory=list)   # right-aligned lines under the table (issuer, date)
    qr_url: str | None = None                    # drawn bottom left, with qr_caption under it
    qr_caption: str = ""
    note: str = ""                               # small print at the bottom
    keywords: str = ""                           # the PDF's /Keywords (machine-readable data)
    author: str = ""


def _qr_code(url: str, size: float):
    """A QR code drawn as vector squares (segno computes the matrix)."""
    import segno
    from reportlab.lib import colors
    from reportlab.platypus import Flowable

    class QrCode(Flowable):
        def __init__(self):
            super().__init__()
            self.qr = segno.make(url, error="m")
            self.width = self.height = size

        def draw(self):
            matrix = [list(row) for row in self.qr.matrix]
            border = 2
            cell = size / (len(matrix) + 2 * border)
            c = self.canv
            c.setFillColor(colors.black)
            for y, row in enumerate(matrix):
                for x, dark in enumerate(row):
                    if dark:
                        c.rect((x + border) * cell, size - (y + border + 1) * cell, cell, cell, stroke=0, fill=1)

    return QrCode()


def make_document(doc: Document) -> bytes:
    """The PDF bytes of ``doc`` on one A4 page, with the CJK font embedded."""
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_CENTER, TA_RIGHT
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
    font = cjk_font()
    body = ParagraphStyle("body", fontName=font, fontSize=11, leading=16, wordWrap="CJK")
    label = ParagraphStyle("label", parent=body, alignment=TA_CENTER)
    title = ParagraphStyle("title", fontName=font, fontSize=24, leading=32, alignment=TA_CENTER, spaceAfter=4 * mm)
    number = ParagraphStyle("number", fontName=font, fontSize=10.5, leading=14, alignment=TA_RIGHT)
    closing = ParagraphStyle("closing", fontName=font, fontSize=12, leading=20, alignment=TA_RIGHT)
    small = ParagraphStyle("small", fontName=font, fontSize=8.5, leading=12, textColor=colors.HexColor("#555555"),
                           wordWrap="CJK")
    caption = ParagraphStyle("caption", parent=small, alignment=TA_CENTER)

    def p(value, style):
        return Paragraph(text(value), style)

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
        qr = Table([[_qr_code(doc.qr_url, 32 * mm)], [p(doc.qr_caption, caption)]], colWidths=[40 * mm])
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
                      keywords=doc.keywords, creator="质量安全管理系统", invariant=1).build(story)
    return out.getvalue()
