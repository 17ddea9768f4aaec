"""Dependencies between domain packages point down (ARCHITECTURE.md).

Every import inside ``training/`` is read, function-local ones included (an
import hidden in a function is still a dependency). An import from one domain
package of another that lies on a cycle between domain packages fails this
test: a lower domain reaches a higher one only through ``training/signals.py`` or
a check or read model the higher one registers, never by importing it."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "training"
DOMAINS = sorted(
    p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists() and p.name != "translations"
)

# Imports on cycles that predate the test: none are left (issue 12 cut the
# catalogue/enrolment/attendance/certificates circle). Keep it empty.
KNOWN: set[tuple[str, str]] = set()


def _edges() -> dict[tuple[str, str], list[str]]:
    edges: dict[tuple[str, str], list[str]] = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).parts
        if parts[0] not in DOMAINS:
            continue
        source, package = parts[0], ["training", *parts[:-1]]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[list[str]] = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package[: len(package) - node.level + 1]
                    targets = (
                        [base + node.module.split(".")]
                        if node.module
                        else [base + [alias.name] for alias in node.names]
                    )
                elif node.module and node.module.startswith("training."):
                    targets = [node.module.split(".")]
            elif isinstance(node, ast.Import):
                targets = [a.name.split(".") for a in node.names if a.name.startswith("training.")]
            for target in targets:
                if len(target) > 1 and target[1] in DOMAINS and target[1] != source:
                    edges.setdefault((source, target[1]), []).append(f"{path.relative_to(ROOT.parent)}:{node.lineno}")
    return edges


def _components(nodes, edges) -> dict[str, int]:
    """Strongly connected components (Tarjan): package -> the root package of its component."""
    graph = {n: sorted(b for (a, b) in edges if a == n) for n in nodes}
    index, low, stack, on_stack, component = {}, {}, [], set(), {}
    counter = [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for successor in graph[node]:
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component[member] = node  # the component's root names it
                if member == node:
                    break

    for node in nodes:
        if node not in index:
            visit(node)
    return component


def cyclic_edges() -> dict[tuple[str, str], list[str]]:
    edges = _edges()
    component = _components(DOMAINS, edges)
    return {edge: where for edge, where in edges.items() if component[edge[0]] == component[edge[1]]}


def test_no_new_import_closes_a_cycle_between_domain_packages():
    new = {edge: where for edge, where in cyclic_edges().items() if edge not in KNOWN}
    assert not new, "imports that close a cycle between domain packages (see ARCHITECTURE.md): " + "; ".join(
        f"{a} -> {b} at {', '.join(where[:3])}" for (a, b), where in sorted(new.items())
    )


def test_the_known_cycles_are_still_there_or_are_removed_from_the_list():
    still = set(cyclic_edges())
    gone = KNOWN - still
    assert not gone, f"these cycles were cut; remove them from KNOWN: {sorted(gone)}"


WIRING_PROBE = """
import json, sys
from training import create_app
from training import signals
from training.catalogue import seats
from training.enrolment import services as enrolment_services

create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": "sqlite://"})

def name(f):
    return f"{f.__module__}.{f.__qualname__}"

print(json.dumps({
    "places": name(seats.places().row),
    "enrol_checks": sorted(name(f) for f in enrolment_services.ENROL_CHECKS),
    "cancel_checks": sorted(name(f) for f in enrolment_services.CANCEL_CHECKS),
    "receivers": {
        s: sorted(name(r) for r in getattr(signals, s).receivers_for(object()))
        for s in ("certificate_issued", "certificate_revoked", "certificate_superseded",
                  "credential_alignment", "run_changed", "meetings_removing")
    },
}))
"""


def test_the_ports_upward_are_wired_by_create_app_alone():
    """A lower domain reaches a higher one only through what the higher one
    registers (signals, checks, the seats read model). Those registrations
    happen when the higher package is imported: this proves, in a fresh process
    that imports nothing but ``create_app``, that every one is in place, so
    removing an import from the app factory fails here and not in production."""
    import json
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", WIRING_PROBE],
        cwd=ROOT.parent,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    wiring = json.loads(out.strip().splitlines()[-1])
    assert wiring["places"] == "training.enrolment.models.Enrolment"
    assert "training.certificates.services.check_prerequisite" in wiring["enrol_checks"]
    assert "training.companies.services._guard_cancel" in wiring["cancel_checks"]
    receivers = wiring["receivers"]
    for signal in ("certificate_issued", "certificate_revoked", "certificate_superseded", "credential_alignment"):
        assert any(r.startswith("training.qualifications.") for r in receivers[signal]), signal
    assert any(r.startswith("training.enrolment.") for r in receivers["run_changed"])
    assert any(r.startswith("training.attendance.") for r in receivers["meetings_removing"])
