"""Rendering and signing many certificates on every core.

Work is plain data in, PDF bytes out (pdf.CertificateDoc, pdf.Design), so it
runs in worker processes without a database. Each worker prepares fonts and
the signer once (its initializer); the pool is kept for the life of the
process that made it. Small batches are rendered in-process: starting workers
costs more than it saves.
"""
from __future__ import annotations

import atexit
import io
import multiprocessing
import os
import zipfile
from concurrent.futures import ProcessPoolExecutor

from . import pdf, signing

SERIAL_BELOW = 40
CHUNK = 25

_pool: ProcessPoolExecutor | None = None
_pool_key: tuple | None = None
_worker_signer: signing.PdfSigner | None = None


def _init_worker(settings: dict, cjk_env: str | None) -> None:
    global _worker_signer
    if cjk_env is not None:
        os.environ["PDF_CJK_FONT"] = cjk_env
    from ..pdf_fonts import fonts
    fonts()
    _worker_signer = signing.get_signer(settings) if settings is not None else None


def _render_chunk(items: list[tuple[pdf.CertificateDoc, pdf.Design]], sign: bool) -> list[bytes]:
    signer = _worker_signer if sign else None
    return [pdf.render(doc, design, signer=signer) for doc, design in items]


def processes_wanted(config) -> int:
    value = (config or {}).get("CERT_PROCESSES") or os.environ.get("CERT_PROCESSES")
    if value is None:
        return os.cpu_count() or 1
    return max(1, int(value))


def get_pool(settings: dict, processes: int) -> ProcessPoolExecutor:
    """The process's worker pool for these signing settings (made once)."""
    global _pool, _pool_key
    # The key ring's current key is part of the key: after `flask signing rotate`
    # a new pool starts, whose workers load the new key.
    key = (tuple(sorted(settings.items())), processes, os.environ.get("PDF_CJK_FONT"),
           signing.KeyRing(settings).current_kid())
    if _pool is None or _pool_key != key:
        if _pool is not None:
            _pool.shutdown(wait=False, cancel_futures=True)
        # forkserver: workers never inherit the web server's threads or open connections.
        context = multiprocessing.get_context("forkserver")
        # The fork server imports reportlab, pyHanko and this package once; workers fork from it ready.
        context.set_forkserver_preload(["training.certificates.bulk", "training.certificates.pdf"])
        _pool = ProcessPoolExecutor(max_workers=processes, mp_context=context, initializer=_init_worker,
                                    initargs=(settings, os.environ.get("PDF_CJK_FONT")))
        _pool_key = key
    return _pool


def shutdown_pool() -> None:
    global _pool, _pool_key
    if _pool is not None:
        _pool.shutdown(wait=True, cancel_futures=True)
    _pool, _pool_key = None, None


atexit.register(shutdown_pool)


def render_signed_many(items: list[tuple[pdf.CertificateDoc, pdf.Design]], settings: dict,
                       processes: int = 1, progress=None) -> list[bytes]:
    """Signed PDFs for every (doc, design), in order."""
    if processes <= 1 or len(items) < SERIAL_BELOW:
        signer = signing.get_signer(settings)
        out = []
        for i, (doc, design) in enumerate(items, 1):
            out.append(pdf.render(doc, design, signer=signer))
            if progress and (i % CHUNK == 0 or i == len(items)):
                progress(i, len(items))
        return out
    pool = get_pool(settings, processes)
    chunks = [items[i:i + CHUNK] for i in range(0, len(items), CHUNK)]
    futures = [pool.submit(_render_chunk, chunk, True) for chunk in chunks]
    out, done = [], 0
    for future in futures:
        result = future.result()
        out.extend(result)
        done += len(result)
        if progress:
            progress(done, len(items))
    return out


def zip_pdfs(named: list[tuple[str, bytes]]) -> bytes:
    """A ZIP of PDFs (stored, not deflated again: PDF streams are already compressed)."""
    buffer = io.BytesIO()
    seen: set[str] = set()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in named:
            stem, n = name, 1
            while name in seen:
                n += 1
                name = stem.replace(".pdf", f"-{n}.pdf")
            seen.add(name)
            archive.writestr(name, data)
    return buffer.getvalue()
