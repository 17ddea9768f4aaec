"""Trainer photos: accept JPEG, PNG and WebP up to 5 MB, check them with
Pillow, re-encode (which drops EXIF, GPS and any other metadata) into square
JPEGs of fixed sizes, and store them under UPLOAD_DIR with server-chosen names.

Nothing from the upload reaches the disk as sent: not its name, not its
bytes. A file that is refused leaves no trace and the old photo stays.
"""

from __future__ import annotations

import io
import os
import re
import secrets
import tempfile
import warnings
from pathlib import Path
from typing import IO

from flask import current_app
from flask_babel import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ValidationFailed

MAX_BYTES = 5 * 1024 * 1024
FORMATS = ("JPEG", "PNG", "WEBP")
MAX_PIXELS = 40_000_000  # a 40-megapixel photo is plenty; more is a decompression bomb
MIN_SIDE = 64
SIZES = {"large": 512, "thumb": 160}
NAME_RE = re.compile(r"^[0-9a-f]{32}-(large|thumb)\.jpg$")


class PhotoRefused(ValidationFailed):
    code = "photo_refused"


def _refuse(message: str) -> PhotoRefused:
    return PhotoRefused(message, fields={"photo": message})


def folder() -> Path:
    path = Path(current_app.config["UPLOAD_DIR"]) / "trainers"
    path.mkdir(parents=True, exist_ok=True)
    return path


def read_upload(stream: IO[bytes]) -> bytes:
    """At most MAX_BYTES from the upload, or a refusal."""
    data = stream.read(MAX_BYTES + 1)
    if not data:
        raise _refuse(_("The file is empty. Choose a JPEG, PNG or WebP photo."))
    if len(data) > MAX_BYTES:
        raise _refuse(_("The photo is larger than 5 MB. Please choose a smaller file."))
    return data


def render_sizes(data: bytes) -> dict[str, bytes]:
    """The photo re-encoded as square JPEGs, one per size; refuses anything
    that is not a sound JPEG, PNG or WebP image of sensible dimensions."""
    unreadable = _("This file is not a JPEG, PNG or WebP image we can read. Please choose another photo.")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=FORMATS) as probe:
                width, height = probe.size  # from the header: nothing decoded yet
                if width * height > MAX_PIXELS:
                    raise _refuse(
                        _(
                            "The image is too large (%(w)s × %(h)s pixels). Please use a photo under 40 megapixels.",
                            w=width,
                            h=height,
                        )
                    )
                if min(width, height) < MIN_SIDE:
                    raise _refuse(
                        _("The image is too small; use a photo of at least %(n)s × %(n)s pixels.", n=MIN_SIDE)
                    )
                probe.verify()
            with Image.open(io.BytesIO(data), formats=FORMATS) as opened:
                opened.load()
                image = ImageOps.exif_transpose(opened)
                if image.mode in ("RGBA", "LA", "P", "PA"):
                    image = image.convert("RGBA")
                    background = Image.new("RGB", image.size, (255, 255, 255))
                    background.paste(image, mask=image.getchannel("A"))
                    image = background
                else:
                    image = image.convert("RGB")
                out = {}
                for name, side in SIZES.items():
                    square = ImageOps.fit(image, (side, side), Image.Resampling.LANCZOS, centering=(0.5, 0.4))
                    buffer = io.BytesIO()
                    # No exif=, no icc_profile=: the output carries pixels only.
                    square.save(buffer, "JPEG", quality=85, optimize=True, progressive=True)
                    out[name] = buffer.getvalue()
                return out
        except PhotoRefused:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _refuse(_("The image is too large to process. Please use a photo under 40 megapixels.")) from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, MemoryError):
            raise _refuse(unreadable) from None


def store(sizes: dict[str, bytes]) -> str:
    """Write the sizes under a new random stem (atomically) and return the stem."""
    stem = secrets.token_hex(16)
    target = folder()
    for name, blob in sizes.items():
        fd, tmp = tempfile.mkstemp(dir=target, prefix=".upload-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(blob)
        os.replace(tmp, target / f"{stem}-{name}.jpg")
    return stem


def delete(stem: str | None) -> None:
    if not stem or not re.fullmatch(r"[0-9a-f]{32}", stem):
        return
    for name in SIZES:
        try:
            (folder() / f"{stem}-{name}.jpg").unlink()
        except FileNotFoundError:
            pass


def path_for(name: str) -> Path | None:
    """The stored file for a public photo name, or None."""
    if not NAME_RE.match(name or ""):
        return None
    path = folder() / name
    return path if path.is_file() else None
