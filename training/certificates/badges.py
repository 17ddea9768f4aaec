"""Open Badges 3.0: each certificate as a W3C Verifiable Credential (JSON-LD)
describing the achievement, and the same credential secured as a VC-JOSE
compact JWS (``application/vc+jwt``) signed with the organisation's key.

Only what the public verification page shows goes in: the holder's name (as an
OB 3.0 IdentityObject of type "name"), course, hours, dates, issuer. No e-mail.
"""
from __future__ import annotations

import base64
import json
from datetime import datetime, time, timezone

from ..catalogue.services import run_end, run_start
from ..types import org_tz
from ..urls import public_base_url
from .models import Certificate

CONTEXT = ["https://www.w3.org/ns/credentials/v2",
           "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"]


def _iso(dt) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _with_offset(dt, tz) -> str:
    """A moment as ISO 8601 with the real UTC offset of ``tz`` at that moment
    (e.g. 2026-03-05T17:00:00+08:00), never a local time labelled UTC."""
    return dt.astimezone(tz).isoformat(timespec="seconds")


def _activity(certificate: Certificate) -> tuple[str, str]:
    """When the training took place: the first meeting's start and the
    completion (the last meeting's end), in the run's time zone with offsets;
    without the run, midnight of the snapshot dates in the organisation's zone."""
    run = certificate.enrolment.run if certificate.enrolment is not None else None
    if run is not None:
        return _with_offset(run_start(run), run.tz), _with_offset(run_end(run), run.tz)
    tz = org_tz()
    return (_with_offset(datetime.combine(certificate.run_starts_on, time(0, 0), tzinfo=tz), tz),
            _with_offset(datetime.combine(certificate.completed_on, time(23, 59, 59), tzinfo=tz), tz))


def _valid_until(certificate: Certificate) -> str:
    """The end of the expiry date in the organisation's time zone (expiry is
    judged on the organisation's calendar)."""
    tz = org_tz()
    return _with_offset(datetime.combine(certificate.expires_on, time(23, 59, 59), tzinfo=tz), tz)


def credential(certificate: Certificate) -> dict:
    base = public_base_url()
    verify = f"{base}/verify/{certificate.code}"
    hours = f"{certificate.hours:g}"
    narrative = (f"Attended {certificate.course_code} {certificate.course_title} ({hours} hours, "
                 f"{certificate.run_starts_on.isoformat()} to {certificate.run_ends_on.isoformat()}) and met the "
                 f"course's completion rule (minimum attendance and any final assessment).")
    started, ended = _activity(certificate)
    body = {
        "@context": CONTEXT,
        "id": f"{verify}/badge.json",
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": f"{certificate.course_title}",
        "issuer": {
            "id": f"{base}/",
            "type": ["Profile"],
            "name": certificate.issuer_name,
            "url": f"{base}/",
        },
        "validFrom": _iso(certificate.issued_at),
        "credentialSubject": {
            "type": ["AchievementSubject"],
            "identifier": [{"type": "IdentityObject", "identityType": "name", "hashed": False,
                            "identityHash": certificate.holder_name}],
            "activityStartDate": started,
            "activityEndDate": ended,
            "achievement": {
                "id": f"{base}/courses/{certificate.course_code}#achievement",
                "type": ["Achievement"],
                "achievementType": "Certificate",
                "name": certificate.course_title,
                "humanCode": certificate.course_code,
                "description": f"{certificate.course_title}: {hours} hours of training by {certificate.issuer_name}.",
                "criteria": {"narrative": narrative},
                "creator": {"id": f"{base}/", "type": ["Profile"], "name": certificate.issuer_name},
                "fieldOfStudy": "Smart manufacturing",
            },
        },
        "evidence": [{"id": verify, "type": ["Evidence"], "name": "Verification page",
                      "narrative": f"Certificate {certificate.code}, verifiable at {verify}."}],
    }
    if certificate.expires_on:
        body["validUntil"] = _valid_until(certificate)
    return body


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def credential_jwt(certificate: Certificate) -> str:
    """The credential as a VC-JOSE compact JWS (RS256 or ES256), with the signing
    certificate in ``x5c`` so a verifier can check it against the PDF signer."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, utils
    from .signing import current_signer
    signer = current_signer()
    key = signer.material.key
    alg = "ES256" if isinstance(key, ec.EllipticCurvePrivateKey) else "RS256"
    header = {"alg": alg, "typ": "vc+jwt", "cty": "vc",
              "x5c": [base64.b64encode(c.dump()).decode() for c in [signer.material.cert, *signer.material.chain]]}
    payload = credential(certificate)
    signing_input = f"{_b64(json.dumps(header, separators=(',', ':')).encode())}." \
                    f"{_b64(json.dumps(payload, separators=(',', ':'), ensure_ascii=False).encode())}"
    if alg == "RS256":
        signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    else:
        r, s = utils.decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return f"{signing_input}.{_b64(signature)}"
