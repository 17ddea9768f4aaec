"""Issued documents, stored write-once by content (SHA-256).

A certificate's signed PDF is made once, at issue, and kept here; every download
returns those bytes, and its SHA-256 is part of the public record
(``Certificate.document_sha256``). The store is addressed by hash only: putting
the same bytes twice is a no-op, nothing is ever overwritten or deleted, and a
read checks the bytes against their name, so a damaged file is reported instead
of handed out.

``FileDocumentStore`` (the default) keeps ``<DOCUMENT_DIR>/ab/cd/<sha256>.pdf``.
Another backend (an object store) implements ``DocumentStore`` and is registered
in ``BACKENDS``; ``DOCUMENT_STORE`` names the one to use.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

HASH = re.compile(r"^[0-9a-f]{64}$")


class DocumentMissing(RuntimeError):
    """The store has no document with this hash, or its bytes no longer match it."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class DocumentStore(Protocol):
    def put(self, data: bytes) -> str:
        """Store the bytes (write-once) and return their SHA-256 (hex)."""

    def get(self, digest: str) -> bytes:
        """The bytes stored under this SHA-256; DocumentMissing if absent or damaged."""

    def exists(self, digest: str) -> bool: ...


class FileDocumentStore:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def path(self, digest: str) -> Path:
        if not HASH.match(digest):
            raise ValueError("not a SHA-256 hex digest")
        return self.root / digest[:2] / digest[2:4] / f"{digest}.pdf"

    def put(self, data: bytes) -> str:
        digest = sha256(data)
        final = self.path(digest)
        if final.exists():
            return digest
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".{digest}.{os.getpid()}.{id(data)}.tmp")
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o444)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, final)  # never replaces an existing file
            except FileExistsError:
                pass
        finally:
            tmp.unlink(missing_ok=True)
        return digest

    def put_many(self, items: list[bytes]) -> list[str]:
        """Store several documents (write-once), made durable together: each is
        written to a temporary file, one filesystem sync covers them all, then
        each is linked to its name. A sync per document is most of the time of
        a bulk issue on an ordinary disk; this is one per batch."""
        digests = [sha256(data) for data in items]
        pending: list[tuple[Path, Path]] = []
        fds: list[int] = []
        try:
            for digest, data in zip(digests, items, strict=True):
                final = self.path(digest)
                if final.exists() or any(final == f for _t, f in pending):
                    continue
                final.parent.mkdir(parents=True, exist_ok=True)
                tmp = final.with_name(f".{digest}.{os.getpid()}.{id(data)}.tmp")
                fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o444)
                fds.append(fd)
                pending.append((tmp, final))
                with memoryview(data) as view:
                    written = 0
                    while written < len(view):
                        written += os.write(fd, view[written:])
            if fds and not _syncfs(fds[0]):
                for fd in fds:
                    os.fsync(fd)
            for tmp, final in pending:
                try:
                    os.link(tmp, final)  # never replaces an existing file
                except FileExistsError:
                    pass
        finally:
            for fd in fds:
                os.close(fd)
            for tmp, _final in pending:
                tmp.unlink(missing_ok=True)
        return digests

    def get(self, digest: str) -> bytes:
        try:
            data = self.path(digest).read_bytes()
        except (OSError, ValueError) as exc:
            raise DocumentMissing(f"document {digest} is not in the store") from exc
        if sha256(data) != digest:
            raise DocumentMissing(f"document {digest} in the store is damaged (its hash differs)")
        return data

    def exists(self, digest: str) -> bool:
        try:
            return self.path(digest).exists()
        except ValueError:
            return False


def _syncfs(fd: int) -> bool:
    """Flush the whole filesystem holding ``fd`` (Linux syncfs); False where unavailable."""
    global _libc
    if _libc is None:
        try:
            import ctypes

            _libc = ctypes.CDLL(None, use_errno=True)
            _libc.syncfs  # noqa: B018 - raises AttributeError where the call does not exist
        except (OSError, AttributeError):
            _libc = False
    return bool(_libc) and _libc.syncfs(fd) == 0


_libc: Any = None


def put_many(store: DocumentStore, items: list[bytes]) -> list[str]:
    """Store several documents; with one durable sync where the backend can batch."""
    batch = getattr(store, "put_many", None)
    return batch(items) if batch is not None else [store.put(data) for data in items]


BACKENDS: dict[str, Callable[[Mapping[str, Any]], DocumentStore]] = {
    "file": lambda config: FileDocumentStore(config.get("DOCUMENT_DIR") or "instance/documents"),
}


def store(config: Mapping[str, Any] | None = None) -> DocumentStore:
    """The configured store (``DOCUMENT_STORE``, default ``file``)."""
    if config is None:
        from flask import current_app

        config = current_app.config
    kind = config.get("DOCUMENT_STORE") or "file"
    try:
        return BACKENDS[kind](config)
    except KeyError:
        raise RuntimeError(f"unknown DOCUMENT_STORE {kind!r} (known: {', '.join(BACKENDS)})") from None
