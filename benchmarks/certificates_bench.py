"""Certificate speed: median time to render one certificate (Latin and Chinese
names), to sign it, and the end-to-end time to issue, sign and zip 1,000
certificates of one run on every core.

    .venv/bin/python benchmarks/certificates_bench.py [--count 1000] [--processes 2] [--samples 200]

Uses a throw-away SQLite database and signing key in a temporary folder.
Bounded: at most 5,000 certificates and 2,000 samples. Prints figures; asserts nothing.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def median_ms(fn, samples: int) -> str:
    """Median wall and CPU time of fn, as text (CPU time is what other processes on a
    busy machine cannot inflate much)."""
    wall, cpu = [], []
    for _ in range(samples):
        t, c = time.perf_counter(), time.process_time()
        fn()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - t)
    return f"{statistics.median(wall) * 1000:6.2f} ms wall, {statistics.median(cpu) * 1000:6.2f} ms CPU"


def single(samples: int, signing_dir: str) -> None:
    from training.certificates import codes, pdf, signing
    from training.pdf_fonts import fonts
    f = fonts()
    print(f"fonts: latin={f.latin} cjk={f.cjk} (embedded={f.cjk_embedded})")
    signer = signing.get_signer({"SIGNING_DIR": signing_dir, "ORG_NAME": "Benchmark Org"})
    design = pdf.Design(signatories=(pdf.Signatory("李明", "培训总监 Director of Training"),
                                     pdf.Signatory("Dr. Hans Becker", "Lead Assessor")))

    def doc(name):
        code = codes.generate()
        return pdf.CertificateDoc(code=code, holder_name=name, course_title="PLC Programming with Siemens TIA Portal",
                                  hours=24, starts_on=date(2026, 3, 2), ends_on=date(2026, 3, 4),
                                  completed_on=date(2026, 3, 4), issued_on=date(2026, 3, 5),
                                  verify_url=f"https://training.example.com/verify/{code}",
                                  trainers=("王建国", "Anna Müller"))
    latin, chinese = doc("Anna Müller"), doc("欧阳晓燕")
    pdf.render(latin, design, signer=signer)  # warm-up: fonts, background, key
    unsigned = pdf.render(chinese, design, signer=None)
    print(f"medians of {samples}:")
    print(f"render, Latin name          : {median_ms(lambda: pdf.render(latin, design), samples)}")
    print(f"render, Chinese name        : {median_ms(lambda: pdf.render(chinese, design), samples)}")

    from reportlab.pdfgen import canvas as rl_canvas  # noqa: F401 - the placeholder is written by pdf.render
    prepared = [None]

    def prepare():
        prepared[0] = pdf.render(chinese, design, signer=_NoSign(signer))
    prepare()
    print(f"sign (fill placeholder, CMS): {median_ms(lambda: signer.sign(prepared[0]), samples)}")
    print(f"render + sign, Latin name   : {median_ms(lambda: pdf.render(latin, design, signer=signer), samples)}")
    print(f"render + sign, Chinese name : {median_ms(lambda: pdf.render(chinese, design, signer=signer), samples)}")
    signed = pdf.render(chinese, design, signer=signer)
    print(f"file size: unsigned {len(unsigned) / 1024:.0f} KiB, signed {len(signed) / 1024:.0f} KiB")


class _NoSign:
    """Writes the placeholder like the real signer but leaves it unsigned (to time signing alone)."""

    def __init__(self, signer):
        self.reserve = signer.reserve

    def sign(self, data):
        return data


def _workers_cpu(pool) -> float:
    """CPU seconds used so far by the pool's worker processes (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for process in list(getattr(pool, "_processes", {}).values()):
        try:
            fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
        except (OSError, IndexError, ValueError):
            pass
    return total


def end_to_end(count: int, processes: int, workdir: Path) -> None:
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.db'}"
    from sqlalchemy import insert, select

    from training import create_app
    from training.accounts.models import User
    from training.attendance.models import Attendance
    from training.catalogue.models import Course, Meeting, Run
    from training.certificates import bulk, services
    from training.enrolment.models import Enrolment
    from training.extensions import db

    app = create_app({"SIGNING_DIR": str(workdir / "signing"), "DOCUMENT_DIR": str(workdir / "documents"),
                      "PUBLIC_BASE_URL": "https://training.example.com",
                      "CERT_PROCESSES": processes, "JOBS_MODE": "inline", "MAIL_DIR": str(workdir / "mail")})
    with app.app_context():
        db.create_all()
        admin = User(email="admin@example.com", display_name="Admin", role="admin")
        course = Course(code="PLC-101", title="PLC Programming with Siemens TIA Portal", hours=24)
        start = datetime.now(timezone.utc) - timedelta(days=10)
        run = Run(course=course, starts_on=(start - timedelta(days=1)).date(), ends_on=(start + timedelta(days=3)).date(),
                  capacity=count, timezone="Asia/Shanghai",
                  meetings=[Meeting(starts_at=start + timedelta(days=i), ends_at=start + timedelta(days=i, hours=4))
                            for i in range(2)])
        db.session.add_all([admin, run])
        db.session.commit()
        names = ["欧阳晓燕", "Anna Müller", "王小明", "José Álvarez", "李娜"]
        db.session.execute(insert(User), [{"email": f"t{i}@example.com", "display_name": f"{names[i % 5]} {i}",
                                           "role": "trainee"} for i in range(count)])
        user_ids = list(db.session.scalars(select(User.id).where(User.role == "trainee")))
        db.session.execute(insert(Enrolment), [{"run_id": run.id, "user_id": uid, "status": "confirmed"}
                                               for uid in user_ids])
        enrolment_ids = list(db.session.scalars(select(Enrolment.id).where(Enrolment.run_id == run.id)))
        db.session.execute(insert(Attendance), [{"enrolment_id": eid, "meeting_id": m.id, "status": "present"}
                                                for eid in enrolment_ids for m in run.meetings])
        db.session.commit()
        run_id, admin = run.id, db.session.get(User, admin.id)

        import resource
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        self_before = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        result = services.issue_for_run(admin, run_id)
        t1 = time.perf_counter()
        archive = services.zip_for_run(admin, run_id)
        t2 = time.perf_counter()
        workers_cpu = _workers_cpu(bulk._pool)
        bulk.shutdown_pool()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        me = resource.getrusage(resource.RUSAGE_SELF)
        parent_cpu = me.ru_utime + me.ru_stime - self_before.ru_utime - self_before.ru_stime
        cpu = (children.ru_utime + children.ru_stime - children_before.ru_utime - children_before.ru_stime
               + parent_cpu + workers_cpu)
        total = t2 - t0
        print(f"\nend to end, {len(result['issued'])} certificates on {processes} processes "
              f"(worker start-up included):")
        print(f"  issue: render, sign, store: {(t1 - t0):6.2f} s   (each document is made once, at issue)")
        print(f"  zip of stored documents   : {(t2 - t1):6.2f} s   ({len(archive) / 1048576:.1f} MiB ZIP)")
        print(f"  total                     : {total:6.2f} s wall = {1000 * total / count:.2f} ms per certificate "
              f"(target 10 ms)")
        print(f"  CPU: this process {parent_cpu:.2f} s, workers {workers_cpu:.2f} s (start-up included)")
        print(f"  CPU used, all processes   : {cpu:6.2f} s = {1000 * cpu / count:.2f} ms per certificate; "
              f"on {processes} idle cores about {1000 * cpu / count / processes:.2f} ms per certificate")
        # warm workers: what a long-running server (its pool already started) sees
        from training.certificates import signing
        pool = bulk.get_pool(signing.signer_settings(app.config), processes)
        list(pool.map(bulk._init_worker, [signing.signer_settings(app.config)] * processes, [None] * processes))
        t3 = time.perf_counter()
        items = services._run_items(run_id)
        bulk.render_signed_many([(doc, design) for _c, doc, design in items], signing.signer_settings(app.config),
                                processes)
        t4 = time.perf_counter()
        print(f"  with warm workers         : {(t4 - t3):6.2f} s render + sign "
              f"= {1000 * (t4 - t3) / count:.2f} ms per certificate")
        t5 = time.perf_counter()
        services.zip_for_run(admin, run_id)
        t6 = time.perf_counter()
        print(f"  every later ZIP           : {(t6 - t5):6.2f} s (stored bytes, nothing signed again)")
        bulk.shutdown_pool()
        load = os.getloadavg()
        print(f"load average during the run: {load[0]:.2f} (other processes compete for the cores when > 0.5)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    count, samples = min(max(args.count, 1), 5000), min(max(args.samples, 5), 2000)
    print(f"{os.cpu_count()} CPU cores")
    with tempfile.TemporaryDirectory(prefix="cert-bench-") as tmp:
        single(samples, str(Path(tmp) / "signing"))
        end_to_end(count, max(1, args.processes), Path(tmp))


if __name__ == "__main__":
    main()
