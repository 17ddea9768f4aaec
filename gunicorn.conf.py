"""gunicorn reads this file from the working directory (the repository root):
settings stay on the command line (see README); this only adds start-up checks."""


def when_ready(server):
    """Several workers without Redis count rate limits each on their own: say so."""
    import os

    from training.config import _bool
    from training.limits import warn_if_not_shared

    storage = os.environ.get("REDIS_URL") or "memory://"  # as training/config.py decides
    warn_if_not_shared(server.cfg.workers, storage, _bool("RATELIMIT_ENABLED", True), warn=server.log.warning)


def child_exit(server, worker):
    """Metrics of a worker that stopped are kept in PROMETHEUS_MULTIPROC_DIR; its live gauges are dropped."""
    import os

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker):
    """Once the worker has loaded the app, move everything start-up made (modules, routes, templates, the
    mapped models: some 200,000 objects) out of the garbage collector's reach: full collections then walk only
    what requests create, instead of pausing a request for tens of milliseconds now and then (p99)."""
    import gc

    gc.collect()
    gc.freeze()
