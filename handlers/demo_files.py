"""Small, valid PDF files for the demo's attachments, written in code at demo load.

A one-page A4 document in the standard Helvetica font (no font file embedded, so ASCII text only),
with a correct cross-reference table: every viewer, Chromium's included, opens it.
"""

A4 = (595, 842)


def simple_pdf(title: str, lines: list[str]) -> bytes:
    """A one-page PDF: ``title`` in 18 pt, then ``lines`` in 12 pt (ASCII)."""
    text = [f"BT /F1 18 Tf 72 {A4[1] - 90} Td ({_escape(title)}) Tj /F1 12 Tf"]
    for i, line in enumerate(lines):
        text.append(f"0 {-32 if i == 0 else -18} Td ({_escape(line)}) Tj")
    text.append("ET")
    content = "\n".join(text).encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {A4[0]} {A4[1]}] "
        f"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>".encode("ascii"),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")   # the binary comment marks the file as binary
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _escape(text: str) -> str:
    text.encode("ascii")   # Helvetica without an embedded font: a non-ASCII character fails here
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


# the demo's attachments, by file name
UNLOCK_FORM_PDF = simple_pdf("Personnel unlock application form", [
    "Demo attachment of the Yunnan quality and safety supervision platform.",
    "Applicant: contractor (demo data). Reason: the project has been suspended.",
    "Signed and stamped by the applicant unit."])
APPOINTMENT_PDF = simple_pdf("Chief supervisor appointment letter", [
    "Demo attachment of the Yunnan quality and safety supervision platform.",
    "The supervising firm appoints the new chief supervisor of the project."])
ACCEPTANCE_REPORT_PDF = simple_pdf("Completion acceptance report", [
    "Demo attachment of the Yunnan quality and safety supervision platform.",
    "The project passed its completion acceptance; all parties agreed."])
BUSINESS_LICENCE_PDF = simple_pdf("Business licence (scan)", [
    "Demo attachment of the Yunnan quality and safety supervision platform.",
    "The registering enterprise's business licence, as its registration uploads it."])
