"""Rendering and signing many certificates on every core.

Work is plain data in (pdf.CertificateDoc, pdf.Design), so it runs in worker
processes without a database. Each worker prepares fonts and the signer once
(its initializer); the pool is kept for the life of the process that made it.
Small batches are rendered in-process: starting workers costs more than it saves.

Documents never travel back as bytes: whoever renders one signs it and puts it
in the document store at once, and only its SHA-256 comes back. A bulk issue
therefore holds a few chunks of work in memory whatever the run's size, and a
ZIP is streamed from the store one document at a time (``zip_stream``).

``submit_signed_stored`` hands a batch to the workers and returns at once, so
the caller can write the previous batch's rows while this one renders (the
job's pipeline); ``warm_pool`` starts the workers in the background while the
caller still reads the database.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import threading
import zipfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import IO, cast

from . import documents, pdf, signing

SERIAL_BELOW = 40
CHUNK = 25

_pool: ProcessPoolExecutor | None = None
_pool_key: tuple | None = None
_worker_signer: signing.PdfSigner | None = None
_pool_lock = threading.Lock()


def _init_worker(settings: dict, cjk_env: str | None) -> None:
    global _worker_signer
    if cjk_env is not None:
        os.environ["PDF_CJK_FONT"] = cjk_env
    from ..pdf_fonts import fonts

    fonts()
    _worker_signer = signing.get_signer(settings) if settings is not None else None


def _render_chunk(items: list[tuple[pdf.CertificateDoc, pdf.Design]], store_config: dict) -> list[str]:
    """Render, sign and store each item; the documents' SHA-256 digests."""
    return documents.put_many(
        documents.store(store_config), [pdf.render(doc, design, signer=_worker_signer) for doc, design in items]
    )


def store_settings(config) -> dict:
    """The settings that choose the document store, as a plain dict (picklable for worker processes)."""
    return {k: v for k, v in (config or {}).items() if k.startswith("DOCUMENT_")}


def processes_wanted(config) -> int:
    value = (config or {}).get("CERT_PROCESSES") or os.environ.get("CERT_PROCESSES")
    if value is None:
        return os.cpu_count() or 1
    return max(1, int(value))


def get_pool(settings: dict, processes: int) -> ProcessPoolExecutor:
    """The process's worker pool for these signing settings (made once)."""
    with _pool_lock:  # a warm-up thread and the job may ask at the same time
        return _get_pool(settings, processes)


def _get_pool(settings: dict, processes: int) -> ProcessPoolExecutor:
    global _pool, _pool_key
    # The key ring's current key is part of the key: after `flask signing rotate`
    # a new pool starts, whose workers load the new key.
    key = (
        tuple(sorted(settings.items())),
        processes,
        os.environ.get("PDF_CJK_FONT"),
        signing.KeyRing(settings).current_kid(),
    )
    if _pool is None or _pool_key != key:
        if _pool is not None:
            _pool.shutdown(wait=False, cancel_futures=True)
        # forkserver: workers never inherit the web server's threads or open connections.
        context = multiprocessing.get_context("forkserver")
        # The fork server imports reportlab, pyHanko and this package once; workers fork from it ready.
        context.set_forkserver_preload(
            ["training.certificates.bulk", "training.certificates.pdf", "pyhanko.sign.signers.pdf_cms"]
        )
        _pool = ProcessPoolExecutor(
            max_workers=processes,
            mp_context=context,
            initializer=_init_worker,
            initargs=(settings, os.environ.get("PDF_CJK_FONT")),
        )
        _pool_key = key
    return _pool


def shutdown_pool() -> None:
    global _pool, _pool_key
    with _pool_lock:
        if _pool is not None:
            _pool.shutdown(wait=True, cancel_futures=True)
        _pool, _pool_key = None, None


def _ready() -> bool:
    return True


def warm_pool(settings: dict, processes: int) -> threading.Thread | None:
    """Start the worker processes in the background (the fork server's imports,
    then each worker's fonts and key) so that they are ready when the first batch
    comes; the caller goes on at once. Nothing to do for one process."""
    if processes <= 1:
        return None

    def start() -> None:
        try:
            pool = get_pool(settings, processes)
            for _ in range(processes):  # a worker is started per task waiting for one
                pool.submit(_ready)
        except Exception:  # a warm-up only: the real submission reports any error
            pass

    thread = threading.Thread(target=start, name="cert-pool-warm-up", daemon=True)
    thread.start()
    return thread


atexit.register(shutdown_pool)


class Pending:
    """Documents handed to the workers: ``result()`` waits for their SHA-256
    digests (in order), ``cancel()`` drops what has not started yet."""

    def __init__(self, futures: list[Future] | None = None, run: Callable[[], list[str]] | None = None):
        self.futures, self.run = futures or [], run

    def result(self) -> list[str]:
        if self.run is not None:
            return self.run()
        try:
            return [digest for future in self.futures for digest in future.result()]
        finally:
            self.cancel()  # after an error: what has not started yet is not made at all

    def cancel(self) -> None:
        for future in self.futures:
            future.cancel()


def submit_signed_stored(
    items: list[tuple[pdf.CertificateDoc, pdf.Design]],
    settings: dict,
    store_config: dict,
    processes: int = 1,
) -> Pending:
    """Start rendering, signing and storing every (doc, design) on the workers and
    return at once (with one process, or few items, the work is done in the caller
    when the result is asked for). Keep at most two of these in flight (memory)."""
    if processes <= 1 or len(items) < SERIAL_BELOW:
        return Pending(run=lambda: render_signed_stored(items, settings, store_config, 1))
    pool = get_pool(settings, processes)
    return Pending(
        [pool.submit(_render_chunk, items[i : i + CHUNK], store_config) for i in range(0, len(items), CHUNK)]
    )


def render_signed_stored(
    items: list[tuple[pdf.CertificateDoc, pdf.Design]],
    settings: dict,
    store_config: dict,
    processes: int = 1,
    progress=None,
) -> list[str]:
    """Render, sign and store every (doc, design); their SHA-256 digests, in order.
    At most a few chunks per process are in flight, so memory does not grow with the count."""
    total = len(items)
    if processes <= 1 or total < SERIAL_BELOW:
        signer = signing.get_signer(settings)
        store = documents.store(store_config)
        out: list[str] = []
        for start in range(0, total, CHUNK):
            out += documents.put_many(
                store, [pdf.render(doc, design, signer=signer) for doc, design in items[start : start + CHUNK]]
            )
            if progress:
                progress(len(out), total)
        return out
    pool = get_pool(settings, processes)
    chunks = (items[i : i + CHUNK] for i in range(0, total, CHUNK))
    in_flight: deque = deque()
    out = []
    for chunk in chunks:
        in_flight.append(pool.submit(_render_chunk, chunk, store_config))
        if len(in_flight) >= 4 * processes:
            out.extend(in_flight.popleft().result())
            if progress:
                progress(len(out), total)
    while in_flight:
        out.extend(in_flight.popleft().result())
        if progress:
            progress(len(out), total)
    return out


class _Sink:
    """A write-only file for zipfile whose bytes are taken out as they come."""

    def __init__(self):
        self.parts: list[bytes] = []

    def write(self, data) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


def zip_stream(named: Iterable[tuple[str, str]], store: documents.DocumentStore) -> Iterator[bytes]:
    """A ZIP of stored PDFs (name, SHA-256), produced piece by piece: one document
    is in memory at a time. Stored, not deflated again (PDF streams are compressed)."""
    sink = _Sink()
    seen: set[str] = set()
    with zipfile.ZipFile(cast(IO[bytes], sink), "w", compression=zipfile.ZIP_STORED) as archive:
        for name, digest in named:
            stem, n = name, 1
            while name in seen:
                n += 1
                name = stem.replace(".pdf", f"-{n}.pdf")
            seen.add(name)
            archive.writestr(name, store.get(digest))
            yield sink.take()
    yield sink.take()
