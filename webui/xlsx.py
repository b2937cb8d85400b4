"""Excel exports (导出): openpyxl's write-only workbook, sent in chunks.

Rows are appended one at a time (write-only mode keeps none of them in memory), the workbook is
saved to a temporary file and that file is streamed out, so an export of a whole inbox costs a
constant amount of memory whatever its length.
"""
import tempfile
from datetime import date, datetime
from urllib.parse import quote

from flask import Response, stream_with_context
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from .filters import local_dt

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CHUNK = 64 * 1024


def xlsx_response(filename: str, sheet: str, headers: list[str], rows) -> Response:
    """An .xlsx download of ``rows`` (iterables of cell values) under a bold header row."""
    spool = tempfile.TemporaryFile()
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet[:31])
    ws.append([_bold(ws, h) for h in headers])
    for row in rows:
        ws.append([_cell(v) for v in row])
    wb.save(spool)
    size = spool.tell()
    spool.seek(0)

    def chunks():
        with spool:
            while block := spool.read(CHUNK):
                yield block
    resp = Response(stream_with_context(chunks()), mimetype=XLSX)
    resp.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
    resp.headers["Content-Length"] = str(size)
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


def _bold(ws, text):
    cell = WriteOnlyCell(ws, value=text)
    cell.font = Font(bold=True)
    return cell


def _cell(value):
    """Times as the pages show them (China time); text that a spreadsheet would run as a formula is quoted."""
    if isinstance(value, datetime):
        return local_dt(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value
