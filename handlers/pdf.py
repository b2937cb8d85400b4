"""Printable PDF documents with an embedded CJK font (ReportLab).

Every document the platform prints (the 补正材料通知书, and any other notice or certificate)
is built here: ``cjk_font()`` registers a TrueType font that carries Chinese glyphs, so that the
PDF embeds the glyphs it uses and reads the same on any viewer. ReportLab's built-in CID fonts
(STSong-Light) embed nothing and render only where Adobe's Asian font pack is installed, so
they are not used.

The font is the file named by the ``PDF_FONT`` setting, or the first of ``FONT_CANDIDATES``
found (scripts/install-fonts installs Debian's fonts-wqy-zenhei). Without one a document is
refused with a clear message (FontMissing), not an error page.
"""
import io
from dataclasses import dataclass
from pathlib import Path

from .errors import DomainError

FONT_NAME = "CJK"
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",           # Debian fonts-wqy-zenhei
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",         # Debian fonts-wqy-microhei
    "/usr/share/fonts/truetype/arphic/uming.ttc",             # Debian fonts-arphic-uming
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)
FONT_MISSING = "服务器缺少中文字体，暂时无法生成 PDF 文件，请联系平台管理员"

_configured: str | None = None
_registered: str | None = None


class FontMissing(DomainError):
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
        raise FontMissing()
    if _registered != str(path):
        try:
            pdfmetrics.registerFont(TTFont(FONT_NAME, str(path), subfontIndex=0))
        except Exception as exc:   # a file that is not a usable TrueType font
            raise FontMissing() from exc
        _registered = str(path)
    return FONT_NAME


@dataclass(frozen=True)
class Styles:
    title: object
    body: object
    small: object
    cell: object
    heading: object


def styles() -> Styles:
    """Paragraph styles in the CJK font, wrapping Chinese text anywhere (wordWrap CJK)."""
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.enums import TA_CENTER
    font = cjk_font()
    body = ParagraphStyle("body", fontName=font, fontSize=11, leading=18, wordWrap="CJK")
    return Styles(
        title=ParagraphStyle("title", parent=body, fontSize=20, leading=28, alignment=TA_CENTER, spaceAfter=6),
        body=body,
        small=ParagraphStyle("small", parent=body, fontSize=9, leading=13),
        cell=ParagraphStyle("cell", parent=body, fontSize=10, leading=15),
        heading=ParagraphStyle("heading", parent=body, fontSize=12, leading=20, spaceBefore=8, spaceAfter=4),
    )


def text(value) -> str:
    """Text for a Paragraph: ReportLab reads a small markup, so <, > and & are escaped."""
    from xml.sax.saxutils import escape
    return escape("" if value is None else str(value)).replace("\n", "<br/>")


def build(flowables: list, title: str, author: str = "", subject: str = "") -> bytes:
    """The document as PDF bytes, A4 with 2.2 cm margins; ``title`` is its metadata title."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import cm
    from reportlab.platypus import SimpleDocTemplate
    cjk_font()
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, leftMargin=2.2 * cm, rightMargin=2.2 * cm, topMargin=2.2 * cm,
                            bottomMargin=2.2 * cm, title=title, author=author, subject=subject,
                            creator="质量安全管理系统")
    doc.build(flowables)
    return out.getvalue()
