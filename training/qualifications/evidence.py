"""Evidence files attached to a grant: a scanned sign-off sheet (PDF) or a photo
of the practical test (JPEG, PNG, WebP), at most ``QUALIFICATION_EVIDENCE_MAX_BYTES``
(default 10 MB).

The type is decided from the bytes, never from the name or the Content-Type the
client sent: a PDF must open in pdfium and have a page, an image must be a sound
JPEG, PNG or WebP of sensible dimensions. The bytes are kept as sent (they are the
evidence; their SHA-256 is on the evidence pack), write-once in the certificates'
document store, and handed out only as an attachment with the type decided here.
"""

from __future__ import annotations

import io
import re
import unicodedata
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

from flask import Response, current_app
from flask_babel import gettext as _

from ..errors import DomainError, ValidationFailed

if TYPE_CHECKING:
    from ..certificates.documents import DocumentStore

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 80_000_000
EXTENSIONS = {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}
IMAGE_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
FIELD = "evidence_file"


@dataclass(frozen=True)
class Upload:
    """What the client sent: its name (for display only) and at most max_bytes() + 1 bytes."""

    filename: str
    data: bytes


@dataclass(frozen=True)
class CheckedFile:
    data: bytes
    mimetype: str
    filename: str

    @property
    def size(self) -> int:
        return len(self.data)


def max_bytes() -> int:
    return int(current_app.config.get("QUALIFICATION_EVIDENCE_MAX_BYTES", DEFAULT_MAX_BYTES))


def read(storage) -> Upload | None:
    """A werkzeug FileStorage (or None) as an Upload; None when no file was chosen."""
    if storage is None or (not storage.filename and not storage.content_length):
        return None
    data = storage.stream.read(max_bytes() + 1)
    if not storage.filename and not data:
        return None
    return Upload(storage.filename or "", data)


def _refuse(message: str, status: int = 422) -> DomainError:
    if status == 422:
        return ValidationFailed(message, code="bad_evidence_file", fields={FIELD: message})
    return DomainError(message, code="evidence_file_too_large", status=status, fields={FIELD: message})


def _pdf_ok(data: bytes) -> bool:
    import pypdfium2

    try:
        document = pypdfium2.PdfDocument(data)
    except Exception:  # pdfium refuses damaged and password-protected files alike
        return False
    try:
        return len(document) >= 1
    finally:
        document.close()


def _image_type(data: bytes) -> str | None:
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=tuple(IMAGE_FORMATS)) as probe:
                width, height = probe.size
                if width * height > MAX_PIXELS or min(width, height) < 1:
                    return None
                kind = IMAGE_FORMATS.get(probe.format or "")
                probe.verify()
            with Image.open(io.BytesIO(data), formats=tuple(IMAGE_FORMATS)) as image:
                image.load()  # verify() checks the structure, load() decodes: a truncated image fails here
            return kind
        except Exception:  # UnidentifiedImageError, truncated data, a decompression bomb
            return None


def clean_name(name: str, mimetype: str) -> str:
    """The sent name for display: no path, no control characters, at most 120 characters,
    with the extension of the type decided from the bytes."""
    name = re.split(r"[\\/]", name or "")[-1]
    name = "".join(
        ch for ch in unicodedata.normalize("NFC", name) if unicodedata.category(ch)[0] != "C" and ch not in '"<>:|?*'
    )
    stem = re.sub(r"\s+", " ", name.rsplit(".", 1)[0] if "." in name else name).strip(" .")[:100] or "evidence"
    return stem + EXTENSIONS[mimetype]


def check(upload: Upload) -> CheckedFile:
    """The file if it is a readable PDF or image within the size limit, else a 413/422 naming the field."""
    limit = max_bytes()
    if not upload.data:
        raise _refuse(_("The evidence file is empty."))
    if len(upload.data) > limit:
        raise _refuse(_("The evidence file is larger than %(mb)s MB.", mb=round(limit / 1024 / 1024, 1)), 413)
    if upload.data.startswith(b"%PDF-"):
        if not _pdf_ok(upload.data):
            raise _refuse(_("The evidence file is a PDF that cannot be opened (damaged or password-protected)."))
        mimetype = "application/pdf"
    else:
        image_type = _image_type(upload.data)
        if image_type is None:
            raise _refuse(_("The evidence file must be a PDF or a JPEG, PNG or WebP image."))
        mimetype = image_type
    return CheckedFile(upload.data, mimetype, clean_name(upload.filename, mimetype))


def store() -> DocumentStore:
    from ..certificates import documents

    return documents.store()


def response(row, data: bytes) -> Response:
    """The file as an attachment of the type checked on upload, never rendered in the page's origin."""
    ascii_name = row.evidence_filename.encode("ascii", "replace").decode().replace("?", "_")
    return Response(
        data,
        mimetype=row.evidence_mimetype,
        headers={
            "Content-Disposition": f'attachment; filename="{ascii_name}"; '
            f"filename*=UTF-8''{quote(row.evidence_filename)}",
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox; default-src 'none'",
        },
    )
