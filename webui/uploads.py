"""Upload streams that keep at most one byte more than the per-file limit.

Werkzeug refuses a body over MAX_CONTENT_LENGTH before parsing it, which loses every typed value
and shows a bare 413 page. Instead the request limit is a high ceiling and each file part is read
but kept only up to UPLOAD_MAX_BYTES + 1 bytes: the upload store then sees a file "over the limit"
and the page comes back with the typed values and the limit named, using bounded memory and disk.
"""
import tempfile

from flask import Request, current_app

SPOOL_BYTES = 512 * 1024     # as Werkzeug's default stream factory: larger files go to disk


class CappedFile(tempfile.SpooledTemporaryFile):
    def __init__(self, cap: int):
        super().__init__(max_size=SPOOL_BYTES, mode="w+b")
        self.cap = cap
        self.received = 0

    def write(self, data) -> int:
        room = self.cap - min(self.received, self.cap)
        self.received += len(data)
        if room > 0:
            super().write(bytes(data[:room]))
        return len(data)


class CappedUploadRequest(Request):
    def _get_file_stream(self, total_content_length, content_type, filename=None, content_length=None):
        return CappedFile(current_app.config["UPLOAD_MAX_BYTES"] + 1)
