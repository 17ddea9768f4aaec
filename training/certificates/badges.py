"""Open Badges 3.0: each certificate as a W3C Verifiable Credential (JSON-LD)
describing the achievement, and the same credential secured as a VC-JOSE
compact JWS (``application/vc+jwt``) signed with the organisation's key.

Anyone can check a credential without trusting the token itself:

- the issuer is a ``did:web`` identifier built from ``PUBLIC_BASE_URL``; its DID
  document (``/.well-known/did.json``) and ``/.well-known/jwks.json`` publish
  every key that ever signed here (current and retired), each with its ``kid``
  (a DID URL: ``<did>#<RFC 7638 thumbprint>``), which the JWT header names;
- every credential carries a ``credentialStatus`` (W3C Bitstring Status List
  v1.0, ``BitstringStatusListEntry``, purpose ``revocation``): the certificate's
  bit in a list credential served signed at ``/credentials/status/<n>``, made
  from the database on each request, so revoking flips the bit at once. A
  certificate's index is its id (list ``id // LIST_BITS + 1``, position
  ``id % LIST_BITS``). Revoked and superseded certificates have the bit set:
  neither is valid any more (the verification page tells which).

Only what the public verification page shows goes in: the holder's name (as an
OB 3.0 IdentityObject of type "name"), course, hours, dates, issuer. No e-mail.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, time, tzinfo
from typing import TYPE_CHECKING, Any, cast

from ..catalogue.services import run_end, run_start
from ..types import org_tz
from ..urls import public_base_url
from .models import Certificate

if TYPE_CHECKING:
    from asn1crypto import x509 as asn1_x509

    from .signing import KeyMaterial

CONTEXT = ["https://www.w3.org/ns/credentials/v2", "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"]
# Issue 18: the course title in every language it has, as a JSON-LD language map. OB 3.0 keeps
# ``name`` a plain string (its JSON Schema says so: it carries the title in its original language)
# and allows a local context map among the contexts, so ``nameMap`` is declared here as the same
# property (schema.org name) with language-tagged values: a JSON-LD processor reads one name per
# language beside the plain one; a JSON Schema validator sees an allowed extra property.
NAME_MAP_CONTEXT = {"nameMap": {"@id": "https://schema.org/name", "@container": "@language"}}
# BCP 47 tags of the content languages.
LANGUAGE_TAGS = {"en": "en", "zh": "zh-Hans"}


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _with_offset(dt: datetime, tz: tzinfo) -> str:
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
    return (
        _with_offset(datetime.combine(certificate.run_starts_on, time(0, 0), tzinfo=tz), tz),
        _with_offset(datetime.combine(certificate.completed_on, time(23, 59, 59), tzinfo=tz), tz),
    )


def _valid_until(certificate: Certificate) -> str:
    """The end of the expiry date in the organisation's time zone (expiry is
    judged on the organisation's calendar)."""
    assert certificate.expires_on is not None  # asked only of a certificate that expires
    tz = org_tz()
    return _with_offset(datetime.combine(certificate.expires_on, time(23, 59, 59), tzinfo=tz), tz)


LIST_BITS = 16 * 1024 * 8  # the specification's minimum list size: 16 KB, 131,072 entries


def issuer_did(base: str | None = None) -> str:
    """did:web of this site: the host (a port's colon encoded as %3A), then any path."""
    from urllib.parse import quote, urlsplit

    parts = urlsplit(base or public_base_url())
    host = parts.hostname or "localhost"
    if parts.port:
        host = f"{host}%3A{parts.port}"
    segments = [quote(p, safe="") for p in parts.path.split("/") if p]
    return ":".join(["did:web", host, *segments])


def status_entry(certificate: Certificate, base: str) -> dict[str, Any]:
    number, index = certificate.id // LIST_BITS + 1, certificate.id % LIST_BITS
    url = f"{base}/credentials/status/{number}"
    return {
        "id": f"{url}#{index}",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": str(index),
        "statusListCredential": url,
    }


def credential(certificate: Certificate) -> dict[str, Any]:
    base = public_base_url()
    did = issuer_did(base)
    verify = f"{base}/verify/{certificate.code}"
    hours = f"{certificate.hours:g}"
    narrative = (
        f"Attended {certificate.course_code} {certificate.course_title} ({hours} hours, "
        f"{certificate.run_starts_on.isoformat()} to {certificate.run_ends_on.isoformat()}) and met the "
        f"course's completion rule (minimum attendance and any final assessment)."
    )
    started, ended = _activity(certificate)
    name_map = {LANGUAGE_TAGS[lang]: title for lang, title in certificate.course_titles.items() if title.strip()}
    body: dict[str, Any] = {
        "@context": [*CONTEXT, NAME_MAP_CONTEXT],
        "id": f"{verify}/badge.json",
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": f"{certificate.course_title}",
        "nameMap": name_map,
        "issuer": {
            "id": did,
            "type": ["Profile"],
            "name": certificate.issuer_name,
            "url": f"{base}/",
        },
        "validFrom": _iso(certificate.issued_at),
        "credentialSubject": {
            "type": ["AchievementSubject"],
            "identifier": [
                {
                    "type": "IdentityObject",
                    "identityType": "name",
                    "hashed": False,
                    "identityHash": certificate.holder_name,
                }
            ],
            "activityStartDate": started,
            "activityEndDate": ended,
            "achievement": {
                "id": f"{base}/courses/{certificate.course_code}#achievement",
                "type": ["Achievement"],
                "achievementType": "Certificate",
                "name": certificate.course_title,
                "nameMap": name_map,
                "inLanguage": LANGUAGE_TAGS.get(certificate.course_title_language, "en"),
                "humanCode": certificate.course_code,
                "description": f"{certificate.course_title}: {hours} hours of training by {certificate.issuer_name}.",
                "criteria": {"narrative": narrative},
                "creator": {"id": did, "type": ["Profile"], "name": certificate.issuer_name},
                "fieldOfStudy": "Smart manufacturing",
            },
        },
        "evidence": [
            {
                "id": verify,
                "type": ["Evidence"],
                "name": "Verification page",
                "narrative": f"Certificate {certificate.code}, verifiable at {verify}.",
            }
        ],
    }
    # Issue 14: what the certificate qualifies for (the skills it grants), answered by subscribers.
    from .. import signals

    alignment = [item for _receiver, items in signals.credential_alignment.send(certificate) for item in items or []]
    if alignment:
        body["credentialSubject"]["achievement"]["alignment"] = alignment
    if certificate.expires_on:
        body["validUntil"] = _valid_until(certificate)
    body["credentialStatus"] = status_entry(certificate, base)
    return body


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_jwt(payload: dict[str, Any], typ: str = "vc+jwt", material: KeyMaterial | None = None) -> str:
    """A VC-JOSE compact JWS (RS256 or ES256) with ``material``'s key (default: the current key); the
    header names the key (``kid``, a DID URL found in the DID document and the JWKS) and carries the
    signing certificate (``x5c``)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

    from .signing import current_signer, key_id

    if material is None:
        material = current_signer().material
    key = material.key
    alg = "ES256" if isinstance(key, ec.EllipticCurvePrivateKey) else "RS256"
    header = {
        "alg": alg,
        "typ": typ,
        "cty": "vc",
        "kid": f"{issuer_did()}#{key_id(material.cert)}",
        "x5c": [base64.b64encode(c.dump()).decode() for c in [material.cert, *material.chain]],
    }
    signing_input = (
        f"{_b64(json.dumps(header, separators=(',', ':')).encode())}."
        f"{_b64(json.dumps(payload, separators=(',', ':'), ensure_ascii=False).encode())}"
    )
    if alg == "RS256":
        # The signer holds an RSA or an EC key (PreloadedSigner refuses any other): not EC, so RSA.
        signature = cast(rsa.RSAPrivateKey, key).sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    else:
        ec_key = cast(ec.EllipticCurvePrivateKey, key)
        # Deterministic ECDSA (RFC 6979), as RS256 is by nature: the same credential and key give the same
        # bytes on every fetch, so a revoked certificate's credential is the one handed out before, never a
        # freshly signed one (its status list entry says revoked).
        ecdsa = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
        r, s = utils.decode_dss_signature(ec_key.sign(signing_input.encode(), ecdsa))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return f"{signing_input}.{_b64(signature)}"


def credential_jwt(certificate: Certificate, material: KeyMaterial | None = None) -> str:
    """The credential as a VC-JOSE compact JWS, signed with ``material`` (default: the current key). A
    revoked certificate still gets its credential: its status entry says revoked
    (``services.credential_jwt`` signs it with the key that signed its document)."""
    return sign_jwt(credential(certificate), material=material)


# --- published keys ---------------------------------------------------------------


def _jwk(cert: asn1_x509.Certificate, did: str) -> dict[str, Any]:
    from .signing import key_id, public_jwk

    jwk = public_jwk(cert)
    return {
        **jwk,
        "kid": f"{did}#{key_id(cert)}",
        "alg": "ES256" if jwk["kty"] == "EC" else "RS256",
        "use": "sig",
        "x5c": [base64.b64encode(cert.dump()).decode()],
    }


def jwks() -> dict[str, Any]:
    """Every key that signs or signed credentials here, current and retired."""
    from flask import current_app

    from .signing import published_certificates

    did = issuer_did()
    return {"keys": [_jwk(cert, did) for cert in published_certificates(current_app.config)]}


def did_document() -> dict[str, Any]:
    did = issuer_did()
    keys = jwks()["keys"]
    methods = [
        {
            "id": k["kid"],
            "type": "JsonWebKey2020",
            "controller": did,
            "publicKeyJwk": {name: k[name] for name in ("kty", "n", "e", "crv", "x", "y", "alg") if name in k},
        }
        for k in keys
    ]
    return {
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/suites/jws-2020/v1"],
        "id": did,
        "verificationMethod": methods,
        "assertionMethod": [m["id"] for m in methods],
        "authentication": [m["id"] for m in methods],
        "service": [{"id": f"{did}#website", "type": "LinkedDomains", "serviceEndpoint": f"{public_base_url()}/"}],
    }


# --- status lists -------------------------------------------------------------------


def list_count() -> int:
    from sqlalchemy import func, select

    from ..extensions import db

    highest = db.session.scalar(select(func.max(Certificate.id))) or 0
    return highest // LIST_BITS + 1


def encoded_list(number: int) -> str:
    """The revocation bits of list ``number`` (certificate ids (number-1)*LIST_BITS
    up to number*LIST_BITS), GZIP-compressed, base64url without padding, with the
    multibase prefix ``u``. Bit 0 is the most significant bit of the first byte."""
    import gzip

    from sqlalchemy import or_, select

    from ..extensions import db

    first = (number - 1) * LIST_BITS
    bits = bytearray(LIST_BITS // 8)
    for cid in db.session.scalars(
        select(Certificate.id).where(
            Certificate.id >= first,
            Certificate.id < first + LIST_BITS,
            or_(Certificate.revoked_at.is_not(None), Certificate.superseded_by_id.is_not(None)),
        )
    ):
        index = cid - first
        bits[index // 8] |= 0x80 >> (index % 8)
    return "u" + _b64(gzip.compress(bytes(bits), mtime=0))


def status_list_credential(number: int) -> dict[str, Any]:
    from datetime import datetime

    base = public_base_url()
    url = f"{base}/credentials/status/{number}"
    return {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer_did(base),
        "validFrom": _iso(datetime.now(UTC)),
        "credentialSubject": {
            "id": f"{url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": "revocation",
            "encodedList": encoded_list(number),
        },
    }
