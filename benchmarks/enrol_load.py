"""Enrolments per second and latency under a burst of simultaneous
enrolments, through gunicorn on PostgreSQL.

    TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/training \\
        .venv/bin/python benchmarks/enrol_load.py [--trainees 100] [--capacity 10] [--rounds 3]

Each round creates a fresh database (dropped at the end), starts gunicorn on
127.0.0.1 (a free port), warms it up with enrolments in another run, releases one enrolment per trainee plus 20 repeats
by one trainee at the same moment, and checks that the run was not oversold.
Bounded: at most 2,000 trainees and 10 rounds; every request times out.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.enrolment.load_harness import LoadDatabase, Server, fire, percentile  # noqa: E402 - after the project root is put on sys.path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trainees", type=int, default=100)
    parser.add_argument("--capacity", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    url = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if not url or not url.startswith("postgres"):
        print("Set TEST_DATABASE_URL to a PostgreSQL server (e.g. postgresql://postgres@127.0.0.1:5432/training).")
        return 2
    trainees = max(1, min(args.trainees, 2000))
    rounds = max(1, min(args.rounds, 10))
    print(
        f"{trainees} trainees + {args.repeats} repeats at a run of {args.capacity} seats; "
        f"gunicorn {args.workers} workers x {args.threads} threads; {rounds} rounds"
    )
    rates, latencies = [], []
    for n in range(1, rounds + 1):
        with tempfile.TemporaryDirectory(prefix="enrol-load-") as tmp:
            database = LoadDatabase.create(url, capacity=args.capacity, trainees=trainees, workdir=Path(tmp))
            server = Server(database.url, Path(tmp), workers=args.workers, threads=args.threads)
            try:
                server.wait_ready()
                tokens = database.tokens + [database.repeat_token] * args.repeats
                # Warm-up on another run: every worker has loaded its code and templates,
                # every token has been seen once; then the measured burst.
                fire(server.base, database.warmup_run_id, database.tokens[:64])
                answers, wall = fire(server.base, database.run_id, tokens)
                confirmed = database.query(
                    "SELECT count(*) FROM enrolments WHERE run_id = :r AND status = 'confirmed'", r=database.run_id
                )[0][0]
            finally:
                server.stop()
                database.drop()
        codes = {}
        for a in answers:
            codes[a.status] = codes.get(a.status, 0) + 1
        seconds = [a.seconds for a in answers]
        rate = len(answers) / wall
        rates.append(rate)
        latencies.extend(seconds)
        ok = confirmed == min(args.capacity, trainees + 1) and set(codes) <= {201, 409}
        print(
            f"round {n}: {len(answers)} requests in {wall:.2f}s = {rate:.0f} enrolments/s; "
            f"p50 {percentile(seconds, 50) * 1000:.0f} ms, p99 {percentile(seconds, 99) * 1000:.0f} ms, "
            f"max {max(seconds) * 1000:.0f} ms; answers {codes}; confirmed {confirmed} "
            f"{'OK' if ok else 'WRONG'}"
        )
    print(
        f"overall: {statistics.median(rates):.0f} enrolments/s (median of rounds); "
        f"p50 {percentile(latencies, 50) * 1000:.0f} ms; p99 {percentile(latencies, 99) * 1000:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
