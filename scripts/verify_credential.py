#!/usr/bin/env python3
"""Check a certificate's signed credential (VC-JWT) the way a relying party does.

    python scripts/verify_credential.py https://training.example.com/verify/<CODE>/badge.jwt
    python scripts/verify_credential.py credential.jwt            # a token saved to a file

The steps (copy them into your HR system; only Python's standard library and
the ``cryptography`` package are needed):

1. Read the token's header: ``kid`` names the key, e.g. ``did:web:training.example.com#<thumbprint>``.
   The credential's ``issuer.id`` must be the DID before ``#``.
2. Fetch the issuer's key: resolve ``did:web:<host>`` to ``https://<host>/.well-known/did.json``
   and take the verification method whose ``id`` is ``kid`` (the same key is in
   ``https://<host>/.well-known/jwks.json``). Never use a key carried in the token itself.
3. Check the signature (RS256 or ES256) over ``<header>.<payload>`` with that key.
4. Check the dates: ``validFrom`` is past, ``validUntil`` (if any) is not.
5. Check the status: fetch ``credentialStatus.statusListCredential`` (itself a VC-JWT:
   check its signature as in 2-3, from the same issuer), GZIP-decompress the
   base64url ``encodedList`` (after its ``u`` prefix) and read bit ``statusListIndex``
   (bit 0 = most significant bit of the first byte). 1 means revoked.

Exit status 0 when the credential is valid, 1 otherwise. Fetches only the issuer's
own URLs (from the token). ``--allow-http`` accepts http:// (a local test server).
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import sys
import urllib.parse
import urllib.request
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils


def b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def did_web_url(did: str, scheme: str = "https") -> str:
    """did:web:host%3Aport:path:to → https://host:port/path/to/did.json (no path: /.well-known/did.json)."""
    if not did.startswith("did:web:"):
        raise ValueError(f"not a did:web identifier: {did}")
    host, *path = did[len("did:web:") :].split(":")
    host = urllib.parse.unquote(host)
    if path:
        return f"{scheme}://{host}/" + "/".join(urllib.parse.unquote(p) for p in path) + "/did.json"
    return f"{scheme}://{host}/.well-known/did.json"


def public_key(jwk: dict):
    if jwk.get("kty") == "RSA":
        return rsa.RSAPublicNumbers(
            int.from_bytes(b64url(jwk["e"]), "big"), int.from_bytes(b64url(jwk["n"]), "big")
        ).public_key()
    if jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
        return ec.EllipticCurvePublicNumbers(
            int.from_bytes(b64url(jwk["x"]), "big"), int.from_bytes(b64url(jwk["y"]), "big"), ec.SECP256R1()
        ).public_key()
    raise ValueError("unsupported key type")


def check_jws(token: str, fetch, scheme: str) -> tuple[dict, dict]:
    """Steps 1-3: the header's kid, the issuer's DID document, the signature. Returns (header, payload)."""
    head_b64, payload_b64, sig_b64 = token.strip().split(".")
    header, payload = json.loads(b64url(head_b64)), json.loads(b64url(payload_b64))
    issuer = payload["issuer"]["id"] if isinstance(payload["issuer"], dict) else payload["issuer"]
    kid = header.get("kid", "")
    if kid.split("#")[0] != issuer:
        raise ValueError(f"the key {kid!r} does not belong to the issuer {issuer!r}")
    document = json.loads(fetch(did_web_url(issuer, scheme)))
    methods = [m for m in document.get("verificationMethod", []) if m.get("id") == kid]
    if not methods or kid not in document.get("assertionMethod", []):
        raise ValueError(f"the issuer does not publish the key {kid!r}")
    key = public_key(methods[0]["publicKeyJwk"])
    signed, signature = f"{head_b64}.{payload_b64}".encode(), b64url(sig_b64)
    try:
        if header["alg"] == "RS256" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
        elif header["alg"] == "ES256" and isinstance(key, ec.EllipticCurvePublicKey):
            r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            key.verify(utils.encode_dss_signature(r, s), signed, ec.ECDSA(hashes.SHA256()))
        else:
            raise ValueError(f"unexpected algorithm {header.get('alg')!r}")
    except InvalidSignature as exc:
        raise ValueError(
            "the signature does not match: the credential was changed or not signed by this issuer"
        ) from exc
    return header, payload


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def verify(token: str, fetch, *, scheme: str = "https", now: datetime | None = None) -> dict:
    """All five steps. ``fetch(url) -> bytes``. Returns a dict with ``valid`` and the reasons."""
    now = now or datetime.now(UTC)
    _header, credential = check_jws(token, fetch, scheme)
    issuer = credential["issuer"]["id"] if isinstance(credential["issuer"], dict) else credential["issuer"]
    result = {
        "issuer": issuer,
        "name": credential.get("name"),
        "signature": "valid",
        "revoked": None,
        "expired": False,
        "not_yet_valid": False,
    }
    if "validFrom" in credential and _when(credential["validFrom"]) > now:
        result["not_yet_valid"] = True
    if "validUntil" in credential and _when(credential["validUntil"]) < now:
        result["expired"] = True
    status = credential.get("credentialStatus")
    if status and status.get("type") == "BitstringStatusListEntry":
        _h, status_list = check_jws(fetch(status["statusListCredential"]).decode(), fetch, scheme)
        list_issuer = status_list["issuer"]["id"] if isinstance(status_list["issuer"], dict) else status_list["issuer"]
        if list_issuer != issuer:
            raise ValueError("the status list is not the issuer's")
        subject = status_list["credentialSubject"]
        if subject.get("statusPurpose") != status.get("statusPurpose"):
            raise ValueError("the status list is for another purpose")
        bits = gzip.decompress(b64url(subject["encodedList"].removeprefix("u")))
        index = int(status["statusListIndex"])
        result["revoked"] = bool(bits[index // 8] & (0x80 >> (index % 8)))
    result["valid"] = not (result["revoked"] or result["expired"] or result["not_yet_valid"])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description="Verify a certificate credential (VC-JWT).")
    parser.add_argument("token", help="URL of the .../badge.jwt, or a file with the token")
    parser.add_argument("--allow-http", action="store_true", help="accept http:// issuers (local testing only)")
    args = parser.parse_args()
    scheme = "http" if args.allow_http else "https"

    def fetch(url: str) -> bytes:
        if not url.startswith("https://") and not (args.allow_http and url.startswith("http://")):
            raise ValueError(f"refusing to fetch {url} (not https)")
        with urllib.request.urlopen(url, timeout=15) as response:  # noqa: S310 - https only, see above
            return response.read(5 * 1024 * 1024)

    if args.token.startswith(("https://", "http://")):
        token = fetch(args.token).decode()
    else:
        with open(args.token, encoding="ascii") as f:
            token = f.read()
    try:
        result = verify(token, fetch, scheme=scheme)
    except (ValueError, KeyError, OSError) as exc:
        print(f"NOT VALID: {exc}")
        return 1
    print(json.dumps(result, indent=2, ensure_ascii=False))
    print("VALID" if result["valid"] else "NOT VALID")
    return 0 if result["valid"] else 1


if __name__ == "__main__":
    sys.exit(main())
