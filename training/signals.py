"""Domain events that a lower domain sends and a higher one may subscribe to,
so that dependencies keep pointing down (certificates never imports
qualifications).

Every signal is sent INSIDE the transaction that made the change, after a
flush (the objects have ids), before the commit: a receiver adds its own
changes to the same unit of work, and a receiver that raises makes the whole
change fail and roll back. Receivers never commit.

- ``certificate_issued.send(certificate)``
- ``certificate_revoked.send(certificate)``
- ``certificate_superseded.send(old, new=new)``: a reissue replaced ``old`` by ``new``.
- ``run_changed.send(run)``: the catalogue changed a run (capacity, dates, meetings,
  deadlines) with the run locked; enrolment gives seats now free to the waitlist.
- ``meetings_removing.send(run, meetings=[...])``: the catalogue is about to remove
  these meetings of the run; a receiver raises a DomainError to refuse (attendance:
  a meeting with attendance stays).

A question a lower domain asks the higher ones (receivers answer, never write):

- ``credential_alignment.send(certificate)``: each receiver returns a list of Open
  Badges 3.0 ``Alignment`` objects (e.g. the skills the certificate grants).
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

certificate_issued = _signals.signal("certificate-issued")
certificate_revoked = _signals.signal("certificate-revoked")
certificate_superseded = _signals.signal("certificate-superseded")
credential_alignment = _signals.signal("credential-alignment")
run_changed = _signals.signal("run-changed")
meetings_removing = _signals.signal("meetings-removing")
