"""Verifiable credentials anyone can check: keys at /.well-known (JWKS, did:web),
kid in the VC-JWT header, a Bitstring Status List entry in every credential,
revocation flips the bit at once, and the repository's verifier script."""

from __future__ import annotations

import base64
import gzip
import importlib.util
import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from tests.certificates.conftest import completed_run
from tests.conftest import api
from training.certificates import badges, signing

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "verify_credential.py"


def _script():
    spec = importlib.util.spec_from_file_location("verify_credential", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _parts(token: str) -> tuple[dict, dict]:
    head, payload, _sig = token.split(".")
    return json.loads(_b64(head)), json.loads(_b64(payload))


def _fetcher(client):
    def fetch(url: str) -> bytes:
        parts = urlsplit(url)
        assert parts.hostname == "localhost", url  # only the issuer's own URLs
        response = client.get(parts.path)
        assert response.status_code == 200, (url, response.status_code)
        return response.data

    return fetch


def _issue(client, admin, run) -> list[str]:
    response = api(client, admin).post(f"/api/v1/runs/{run.id}/certificates")
    assert response.status_code == 200, response.get_json()
    return [i["code"] for i in response.get_json()["issued"]]


def _bit(client, entry) -> int:
    token = client.get(urlsplit(entry["statusListCredential"]).path)
    assert token.status_code == 200 and token.mimetype == "application/vc+jwt"
    assert token.headers["Cache-Control"] == "no-store"
    _header, status_list = _parts(token.get_data(as_text=True))
    subject = status_list["credentialSubject"]
    assert status_list["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    assert subject["type"] == "BitstringStatusList" and subject["statusPurpose"] == "revocation"
    assert subject["encodedList"].startswith("u")
    bits = gzip.decompress(_b64(subject["encodedList"][1:]))
    assert len(bits) >= 16 * 1024  # the specification's minimum
    index = int(entry["statusListIndex"])
    return (bits[index // 8] >> (7 - index % 8)) & 1


def test_jwks_key_verifies_the_vc_jwt(client, factory, admin):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    run, _ = completed_run(factory, ["欧阳晓燕"])
    (code,) = _issue(client, admin, run)
    token = client.get(f"/verify/{code}/badge.jwt").get_data(as_text=True)
    header, credential = _parts(token)
    assert credential["issuer"]["id"] == "did:web:localhost"
    assert header["kid"].startswith("did:web:localhost#") and header["typ"] == "vc+jwt"

    jwks = client.get("/.well-known/jwks.json")
    assert jwks.status_code == 200 and jwks.headers["Access-Control-Allow-Origin"] == "*"
    (jwk,) = [k for k in jwks.get_json()["keys"] if k["kid"] == header["kid"]]
    key = _script().public_key(jwk)
    signed, signature = token.rsplit(".", 1)
    key.verify(_b64(signature), signed.encode(), padding.PKCS1v15(), hashes.SHA256())  # raises if wrong

    did = client.get("/.well-known/did.json").get_json()
    assert did["id"] == "did:web:localhost"
    (method,) = [m for m in did["verificationMethod"] if m["id"] == header["kid"]]
    assert method["publicKeyJwk"]["n"] == jwk["n"] and header["kid"] in did["assertionMethod"]


def test_revoking_flips_the_bit_at_once_and_the_credential_says_so(client, factory, admin):
    run, _ = completed_run(factory, ["Anna Müller", "Li Lei"])
    code, other = _issue(client, admin, run)
    credential = client.get(f"/verify/{code}/badge.json").get_json()
    entry = credential["credentialStatus"]
    assert entry["type"] == "BitstringStatusListEntry" and entry["statusPurpose"] == "revocation"
    assert entry["statusListCredential"] == "http://localhost/credentials/status/1"
    assert entry["id"] == f"{entry['statusListCredential']}#{entry['statusListIndex']}"
    other_entry = client.get(f"/verify/{other}/badge.json").get_json()["credentialStatus"]
    assert other_entry["statusListIndex"] != entry["statusListIndex"]
    assert _bit(client, entry) == 0 and _bit(client, other_entry) == 0

    before = client.get(f"/verify/{code}/badge.jwt").get_data(as_text=True)
    assert (
        api(client, admin).post(f"/api/v1/certificates/{code}/revoke", json={"reason": "Exam fraud"}).status_code == 200
    )
    assert _bit(client, entry) == 1
    assert _bit(client, other_entry) == 0
    after = client.get(f"/verify/{code}/badge.jwt")
    assert after.status_code == 200
    assert _parts(after.get_data(as_text=True))[1]["credentialStatus"] == entry
    assert after.get_data(as_text=True) == before  # the same credential; its status is in the list

    verifier = _script()
    assert verifier.verify(before, _fetcher(client), scheme="http")["revoked"] is True
    assert verifier.verify(before, _fetcher(client), scheme="http")["valid"] is False
    good = verifier.verify(
        client.get(f"/verify/{other}/badge.jwt").get_data(as_text=True), _fetcher(client), scheme="http"
    )
    assert good == {
        "issuer": "did:web:localhost",
        "name": good["name"],
        "signature": "valid",
        "revoked": False,
        "expired": False,
        "not_yet_valid": False,
        "valid": True,
    }


def test_a_forged_credential_fails_the_verifier(client, factory, admin):
    import pytest

    run, _ = completed_run(factory, ["Wang Fang"])
    (code,) = _issue(client, admin, run)
    token = client.get(f"/verify/{code}/badge.jwt").get_data(as_text=True)
    head, payload, sig = token.split(".")
    claims = json.loads(_b64(payload))
    claims["credentialSubject"]["achievement"]["name"] = "Something else"
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(ValueError, match="signature"):
        _script().verify(f"{head}.{forged_payload}.{sig}", _fetcher(client), scheme="http")


def test_retired_keys_stay_published_and_old_credentials_verify(app, client, factory, admin, tmp_path):
    app.config["SIGNING_DIR"] = str(tmp_path / "ring")
    run, _ = completed_run(factory, ["Chen Jie"])
    (code,) = _issue(client, admin, run)
    old_token = client.get(f"/verify/{code}/badge.jwt").get_data(as_text=True)
    assert app.test_cli_runner().invoke(args=["signing", "rotate"]).exit_code == 0
    new_token = client.get(f"/verify/{code}/badge.jwt").get_data(as_text=True)
    assert _parts(old_token)[0]["kid"] != _parts(new_token)[0]["kid"]
    kids = {k["kid"] for k in client.get("/.well-known/jwks.json").get_json()["keys"]}
    assert {_parts(old_token)[0]["kid"], _parts(new_token)[0]["kid"]} <= kids
    for token in (old_token, new_token):
        assert _script().verify(token, _fetcher(client), scheme="http")["valid"] is True


def test_status_lists_that_do_not_exist_answer_404(client):
    assert client.get("/credentials/status/0").status_code == 404
    assert client.get("/credentials/status/2").status_code == 404
    assert client.get("/credentials/status/1").status_code == 200


def test_did_web_identifier_from_the_public_base_url():
    assert badges.issuer_did("https://training.example.com") == "did:web:training.example.com"
    assert badges.issuer_did("http://example.com:8080/academy/") == "did:web:example.com%3A8080:academy"
    verifier = _script()
    assert verifier.did_web_url("did:web:example.com%3A8080:academy") == "https://example.com:8080/academy/did.json"
    assert verifier.did_web_url("did:web:training.example.com") == "https://training.example.com/.well-known/did.json"


def test_expired_credentials_are_reported_as_expired(client, factory, admin):
    run, _ = completed_run(factory, ["Zhao Min"])
    (code,) = _issue(client, admin, run)
    token = client.get(f"/verify/{code}/badge.jwt").get_data(as_text=True)
    far = datetime(2100, 1, 1, tzinfo=UTC)
    credential = _parts(token)[1]
    result = _script().verify(token, _fetcher(client), scheme="http", now=far)
    assert result["expired"] is ("validUntil" in credential)
    assert signing.current_signer().material.kid in _parts(token)[0]["kid"]


def test_a_reissue_ends_the_old_credential_and_the_new_one_verifies(client, factory, admin):
    """A name correction supersedes the old certificate: its credential, fetched before, fails any
    verifier from then on (its bit is set), while the successor's verifies; a second reissue of the
    old code is refused and no bit of a third certificate moves."""
    run, _ = completed_run(factory, ["Ouyang Xiaoyn", "Li Lei"])
    old, bystander = _issue(client, admin, run)
    before = client.get(f"/verify/{old}/badge.jwt").get_data(as_text=True)
    bystander_entry = client.get(f"/verify/{bystander}/badge.json").get_json()["credentialStatus"]

    reissued = api(client, admin).post(f"/api/v1/certificates/{old}/reissue", json={"holder_name": "欧阳晓燕"})
    assert reissued.status_code == 201
    new = reissued.get_json()["code"]
    verifier = _script()
    stale = verifier.verify(before, _fetcher(client), scheme="http")
    assert stale["revoked"] is True and stale["valid"] is False
    fresh_token = client.get(f"/verify/{new}/badge.jwt").get_data(as_text=True)
    fresh = verifier.verify(fresh_token, _fetcher(client), scheme="http")
    assert fresh["valid"] is True and fresh["revoked"] is False
    assert _parts(fresh_token)[1]["credentialSubject"]["identifier"][0]["identityHash"] == "欧阳晓燕"
    assert api(client, admin).post(f"/api/v1/certificates/{old}/reissue", json={}).status_code == 409
    assert _bit(client, bystander_entry) == 0


def test_an_ec_key_signs_the_same_credential_with_the_same_bytes_every_time(app, monkeypatch):
    """ES256 signatures are deterministic (RFC 6979), as RS256 ones are: a credential fetched again, after
    a revocation say, is the one handed out before, byte for byte, never a freshly signed one; and it
    verifies with the key's public half."""
    from types import SimpleNamespace

    from asn1crypto import x509 as asn1_x509
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, utils
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "EC test issuer")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now.replace(year=now.year + 1))
        .sign(key, hashes.SHA256())
    )
    material = SimpleNamespace(key=key, cert=asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)))
    material.chain = []
    monkeypatch.setattr(signing, "current_signer", lambda: SimpleNamespace(material=material))
    payload = {"credentialSubject": {"name": "欧阳晓燕"}, "credentialStatus": {"statusListIndex": "7"}}
    with app.test_request_context("/"):
        first, again = badges.sign_jwt(payload), badges.sign_jwt(dict(payload))
    assert first == again
    header, _ = _parts(first)
    assert header["alg"] == "ES256"
    signing_input, signature = first.rsplit(".", 1)
    raw = _b64(signature)
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    key.public_key().verify(utils.encode_dss_signature(r, s), signing_input.encode(), ec.ECDSA(hashes.SHA256()))


def test_after_a_key_rotation_a_revoked_or_superseded_certificate_gets_its_old_credential_not_a_new_one(
    app, client, factory, admin, tmp_path
):
    """A certificate revoked (or superseded) after `flask signing rotate` keeps the credential its own key
    signed, byte for byte: no key that came after it signs anything for it. A valid certificate's
    credential is signed by the current key."""
    app.config["SIGNING_DIR"] = str(tmp_path / "ring")
    run, _ = completed_run(factory, ["Chen Jie", "Wang Fang", "Li Lei"])
    revoked, superseded, valid = _issue(client, admin, run)
    before = {code: client.get(f"/verify/{code}/badge.jwt").get_data(as_text=True) for code in (revoked, superseded)}
    old_kid = _parts(before[revoked])[0]["kid"]
    assert app.test_cli_runner().invoke(args=["signing", "rotate"]).exit_code == 0
    as_admin = api(client, admin)
    assert as_admin.post(f"/api/v1/certificates/{revoked}/revoke", json={"reason": "Exam fraud"}).status_code == 200
    assert as_admin.post(f"/api/v1/certificates/{superseded}/reissue", json={"holder_name": "王芳"}).status_code == 201
    for code in (revoked, superseded):
        after = client.get(f"/verify/{code}/badge.jwt")
        assert after.status_code == 200
        assert after.get_data(as_text=True) == before[code], code
        assert _script().verify(before[code], _fetcher(client), scheme="http")["revoked"] is True
    current = client.get(f"/verify/{valid}/badge.jwt").get_data(as_text=True)
    assert _parts(current)[0]["kid"] != old_kid
    assert _script().verify(current, _fetcher(client), scheme="http")["valid"] is True
