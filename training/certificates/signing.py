"""PAdES signatures on certificate PDFs, with the organisation's key.

Where the key comes from is configuration (app config or environment):

- ``SIGNING_PKCS12_FILE`` (+ ``SIGNING_KEY_PASSPHRASE``): a PKCS#12 bundle; or
- ``SIGNING_KEY_FILE`` and ``SIGNING_CERT_FILE`` (PEM or DER, + optional
  ``SIGNING_CHAIN_FILE`` with intermediate certificates and the passphrase from
  ``SIGNING_KEY_PASSPHRASE`` or ``SIGNING_KEY_PASSPHRASE_FILE``): e.g. a
  CA-issued document-signing certificate;
- otherwise the key ring under ``SIGNING_DIR`` (``KeyRing``): keys encrypted with
  the passphrase, made by ``flask signing init`` (or on first use: the embedded
  default, with a generated passphrase file next to ``SIGNING_DIR``) and rotated
  by ``flask signing rotate``; retired keys stay, so old documents keep verifying.

With ``TSA_URL`` set, every signature carries an RFC 3161 timestamp from that
authority (PAdES B-T): it proves the signature existed while the key was valid,
after the signing certificate expires or the key is retired.

Speed: pyHanko's standard PDF signer re-reads the key and rewrites the PDF as
an incremental update for every signature. Here the PDF writer (certificates.pdf)
already writes the signature field, the signature dictionary and a zero-filled
``/Contents`` placeholder; signing only fills in ``/ByteRange``, hashes the two
covered ranges and asks pyHanko for the CMS container (PAdES baseline B, with
the signing-certificate-v2 attribute; B-T with a timestamp token when a TSA is
set) with a key loaded once per process.
The result is an ordinary PAdES signature covering the whole file, which
pyHanko, Acrobat and other validators check as usual.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from collections.abc import Callable, Coroutine, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import NameOID

if TYPE_CHECKING:
    from pyhanko.sign.signers.pdf_cms import SimpleSigner
    from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper

T = TypeVar("T")
# Settings read like Flask's config (a mapping), or None for the environment alone.
Config: TypeAlias = "Mapping[str, Any] | None"
# pyHanko's CMS container with where its digest and signature sit: (der, at_attrs, attrs_der, at_digest, at_sig,
# signature length); see PdfSigner._prepare_template.
CmsTemplate: TypeAlias = tuple[bytes, int, bytes, int, int, int]

# Bytes kept for an RFC 3161 timestamp token (the TSA's signature and certificates).
TIMESTAMP_RESERVE = 12_000
# Hex digits of room beyond the measured CMS: ECDSA signatures and their DER lengths vary by a few bytes.
SIGNATURE_SLACK = 256
BYTE_RANGE_PLACEHOLDER = b"/ByteRange [0 0000000000 0000000000 0000000000]"
CONTENTS_KEY = b"/Contents <"


class SigningUnavailable(RuntimeError):
    """The configured key or certificate cannot be loaded."""


@lru_cache(maxsize=1)
def _preloaded_signer_class() -> Callable[..., SimpleSigner]:
    """Defined on first use: pyHanko costs a web worker about 28 MiB, and most
    workers never sign a PDF (they serve pages, keys and credentials)."""
    from pyhanko.sign.signers.pdf_cms import SimpleSigner

    class PreloadedSigner(SimpleSigner):
        """pyHanko's SimpleSigner, but with the private key parsed once."""

        def __init__(self, key: PrivateKeyTypes, *args: Any, **kwargs: Any) -> None:
            self._key = key
            super().__init__(*args, **kwargs)

        async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
            return self.sign_raw(data, digest_algorithm)

        def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
            algo = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}[digest_algorithm]
            if isinstance(self._key, rsa.RSAPrivateKey):
                return self._key.sign(data, padding.PKCS1v15(), algo)
            if isinstance(self._key, ec.EllipticCurvePrivateKey):
                return self._key.sign(data, ec.ECDSA(algo))
            raise SigningUnavailable(f"unsupported key type {type(self._key).__name__}")

    return PreloadedSigner


@dataclass
class KeyMaterial:
    key: PrivateKeyTypes
    cert: asn1_x509.Certificate
    chain: list[asn1_x509.Certificate]
    source: str

    @property
    def kid(self) -> str:
        return key_id(self.cert)


class PdfSigner:
    """Signs PDFs written with a placeholder (see certificates.pdf). One per process."""

    def __init__(self, material: KeyMaterial, digest: str = "sha256", tsa_url: str | None = None):
        self.material = material
        self.digest = digest
        self.tsa_url = tsa_url
        key_der = material.key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        from pyhanko_certvalidator.registry import SimpleCertificateStore

        self._signer = _preloaded_signer_class()(
            material.key,
            signing_cert=material.cert,
            signing_key=asn1_keys.PrivateKeyInfo.load(key_der),
            cert_registry=SimpleCertificateStore.from_certs(  # type: ignore[no-untyped-call]  # not annotated upstream
                [material.cert, *material.chain]
            ),
        )
        self._loop = asyncio.new_event_loop()
        self._template = self._prepare_template()
        # Room for the CMS container, in hex digits: measured once, with margin
        # (and room for the timestamp token with its TSA's certificates).
        sample = self._cms(b"\0" * 32)
        self.reserve = 2 * len(sample) + SIGNATURE_SLACK
        self._timestamper: RequestsHTTPTimeStamper | None = None
        if tsa_url:
            from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper

            self._timestamper = RequestsHTTPTimeStamper(  # type: ignore[no-untyped-call]  # not annotated upstream
                tsa_url, timeout=int(os.environ.get("TSA_TIMEOUT", 15))
            )
            self.reserve += 2 * TIMESTAMP_RESERVE

    def _run(self, make_coroutine: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run one of pyHanko's coroutines to completion, also when the calling
        thread already runs an event loop (then on a short-lived thread)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return self._loop.run_until_complete(make_coroutine())
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(lambda: asyncio.run(make_coroutine())).result()

    def _pyhanko_cms(self, digest: bytes) -> bytes:
        content_info = self._run(lambda: self._signer.async_sign(digest, self.digest, use_pades=True))
        der: bytes = content_info.dump()
        return der

    def _prepare_template(self) -> CmsTemplate | None:
        """pyHanko's CMS container for this key differs from one document to
        the next only in the message digest and the signature value (PAdES puts
        the signing time in the PDF, not in the CMS). So build it once, and per
        document patch the digest into the signed attributes, sign them, and patch
        the signature in: the same bytes pyHanko would produce, without
        rebuilding the ASN.1 tree each time. Checked here against pyHanko's own
        output for a second digest; if anything differs (e.g. a signature scheme
        with random or variable-length output), every signature goes through pyHanko."""
        from asn1crypto import cms as asn1_cms

        d1, d2 = hashlib.new(self.digest, b"one").digest(), hashlib.new(self.digest, b"two").digest()
        der1 = self._pyhanko_cms(d1)
        info = asn1_cms.ContentInfo.load(der1)
        signer_info = info["content"]["signer_infos"][0]
        attrs_der = signer_info["signed_attrs"].dump(force=True)
        sig_value = signer_info["signature"].native
        at_attrs, at_sig = der1.find(attrs_der), der1.find(sig_value)
        if at_attrs < 0 or at_sig < 0 or der1.count(sig_value) != 1 or attrs_der.count(d1) != 1:
            return None
        template = (der1, at_attrs, attrs_der, attrs_der.find(d1), at_sig, len(sig_value))
        if self._patched_cms(template, d2) != self._pyhanko_cms(d2):
            return None
        return template

    def _patched_cms(self, template: CmsTemplate, digest: bytes) -> bytes:
        der, at_attrs, attrs_der, at_digest, at_sig, sig_len = template
        attrs = attrs_der[:at_digest] + digest + attrs_der[at_digest + len(digest) :]
        # Signed attributes are signed as a DER SET OF (tag 0x31), stored as [0] IMPLICIT.
        signature = self._signer.sign_raw(b"\x31" + attrs[1:], self.digest)
        if len(signature) != sig_len:
            return self._pyhanko_cms(digest)
        out = bytearray(der)
        out[at_attrs : at_attrs + len(attrs)] = attrs
        out[at_sig : at_sig + sig_len] = signature
        return bytes(out)

    def _cms(self, digest: bytes) -> bytes:
        if getattr(self, "_timestamper", None) is not None:
            # PAdES B-T: pyHanko asks the TSA for a token over the signature value
            # and adds it as an unsigned attribute (one round trip per document).
            from pyhanko.sign.timestamps.common_utils import TimestampRequestError

            try:
                content_info = self._run(
                    lambda: self._signer.async_sign(digest, self.digest, use_pades=True, timestamper=self._timestamper)
                )
            except (TimestampRequestError, OSError) as exc:
                raise SigningUnavailable(f"the timestamp authority did not answer: {exc}") from exc
            der: bytes = content_info.dump()
            return der
        if self._template is not None:
            return self._patched_cms(self._template, digest)
        return self._pyhanko_cms(digest)

    @property
    def certificate(self) -> asn1_x509.Certificate:
        return self.material.cert

    @property
    def signer_name(self) -> str:
        name: str = self.material.cert.subject.human_friendly
        return name

    def sign(self, pdf: bytes | bytearray) -> bytes:
        """Fill in the placeholder of a PDF written by certificates.pdf and return it signed."""
        buf = bytearray(pdf)
        at = buf.rfind(BYTE_RANGE_PLACEHOLDER)
        if at < 0:
            raise ValueError("the PDF has no signature placeholder")
        start = buf.find(CONTENTS_KEY, at) + len(CONTENTS_KEY) - 1  # offset of "<"
        end = buf.index(b">", start) + 1
        if end - start - 2 < self.reserve - SIGNATURE_SLACK:
            raise ValueError("the signature placeholder is too small for this signer")
        ranges = f"/ByteRange [0 {start:010d} {end:010d} {len(buf) - end:010d}]".encode()
        buf[at : at + len(BYTE_RANGE_PLACEHOLDER)] = ranges
        h = hashlib.new(self.digest)
        h.update(memoryview(buf)[:start])
        h.update(memoryview(buf)[end:])
        cms = self._cms(h.digest()).hex().encode()
        if len(cms) > end - start - 2:
            raise ValueError("the signature does not fit its placeholder")
        buf[start + 1 : start + 1 + len(cms)] = cms
        return bytes(buf)


# --- key material -----------------------------------------------------------------


def _setting(config: Config, name: str) -> str | None:
    value = (config or {}).get(name) if config is not None else None
    return value or os.environ.get(name) or None


def _load_private_key(data: bytes, passphrase: bytes | None) -> PrivateKeyTypes:
    if b"-----BEGIN" in data:
        return serialization.load_pem_private_key(data, password=passphrase)
    return serialization.load_der_private_key(data, password=passphrase)


def _load_certs(data: bytes) -> list[asn1_x509.Certificate]:
    if b"-----BEGIN" in data:
        blocks = re.findall(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", data, re.S)
        return [
            asn1_x509.Certificate.load(x509.load_pem_x509_certificate(b).public_bytes(serialization.Encoding.DER))
            for b in blocks
        ]
    return [asn1_x509.Certificate.load(data)]


def key_id(cert: asn1_x509.Certificate) -> str:
    """The key's id (``kid``): its RFC 7638 JWK thumbprint, base64url."""
    import base64
    import json

    jwk = public_jwk(cert)
    members = {k: jwk[k] for k in (("crv", "kty", "x", "y") if jwk["kty"] == "EC" else ("e", "kty", "n"))}
    digest = hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def public_jwk(cert: asn1_x509.Certificate) -> dict[str, str]:
    """The certificate's public key as a JWK (RFC 7517), without kid."""
    import base64

    def b64(n: int, length: int | None = None) -> str:
        raw = n.to_bytes(length or max(1, (n.bit_length() + 7) // 8), "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    public = serialization.load_der_public_key(cert.public_key.dump())
    if isinstance(public, rsa.RSAPublicKey):
        numbers = public.public_numbers()
        return {"kty": "RSA", "n": b64(numbers.n), "e": b64(numbers.e)}
    if isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == "secp256r1":
        point = public.public_numbers()
        return {"kty": "EC", "crv": "P-256", "x": b64(point.x, 32), "y": b64(point.y, 32)}
    raise SigningUnavailable(f"unsupported public key {type(public).__name__}")


def load_material(config: Config = None) -> KeyMaterial:
    """The key that signs new documents: configured files, or the current key of
    the key ring under ``SIGNING_DIR`` (made on first use: the embedded default)."""
    passphrase_text = _setting(config, "SIGNING_KEY_PASSPHRASE")
    passphrase = passphrase_text.encode() if passphrase_text else None
    try:
        p12 = _setting(config, "SIGNING_PKCS12_FILE")
        if p12:
            from cryptography.hazmat.primitives.serialization import pkcs12

            key, cert, extra = pkcs12.load_key_and_certificates(Path(p12).read_bytes(), passphrase)

            def to_asn1(c: x509.Certificate) -> asn1_x509.Certificate:
                return asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))

            assert key is not None and cert is not None, "the PKCS#12 file holds no key or no certificate"
            return KeyMaterial(key, to_asn1(cert), [to_asn1(c) for c in extra or []], f"pkcs12:{p12}")
        key_file, cert_file = _setting(config, "SIGNING_KEY_FILE"), _setting(config, "SIGNING_CERT_FILE")
        if key_file and cert_file:
            passphrase = passphrase or _file_passphrase(config)
            key = _load_private_key(Path(key_file).read_bytes(), passphrase)
            certs = _load_certs(Path(cert_file).read_bytes())
            chain_file = _setting(config, "SIGNING_CHAIN_FILE")
            chain = _load_certs(Path(chain_file).read_bytes()) if chain_file else []
            return KeyMaterial(key, certs[0], certs[1:] + chain, f"files:{key_file}")
    except (OSError, ValueError, TypeError) as exc:
        raise SigningUnavailable(f"cannot load the signing key: {exc}") from exc
    return KeyRing(config).current(create=True)


def _file_passphrase(config: Config) -> bytes | None:
    path = _setting(config, "SIGNING_KEY_PASSPHRASE_FILE")
    if not path:
        return None
    try:
        return Path(path).read_bytes().strip() or None
    except OSError as exc:
        raise SigningUnavailable(f"cannot read SIGNING_KEY_PASSPHRASE_FILE: {exc}") from exc


class KeyRing:
    """Signing keys under ``SIGNING_DIR``: ``keys/<kid>.key.pem`` (PKCS#8, encrypted
    with the passphrase), ``keys/<kid>.cert.pem`` and ``current`` (the kid that signs
    new documents). Retired keys stay, so that everything they signed keeps verifying
    and their public keys stay published (``/.well-known/jwks.json``).

    The passphrase is ``SIGNING_KEY_PASSPHRASE``, or the contents of
    ``SIGNING_KEY_PASSPHRASE_FILE``; with neither (the embedded default, e.g.
    ``make run``), a random one is generated into ``signing-passphrase`` next to
    ``SIGNING_DIR`` when the first key is made (and only then)."""

    def __init__(self, config: Config = None) -> None:
        self.config = config
        self.directory = Path(_setting(config, "SIGNING_DIR") or "instance/signing")
        self.keys = self.directory / "keys"
        self.org = _setting(config, "ORG_NAME") or "Training Organisation"

    # passphrase
    @property
    def default_passphrase_file(self) -> Path:
        return self.directory.parent / "signing-passphrase"

    def passphrase(self, create: bool = False) -> bytes:
        value = _setting(self.config, "SIGNING_KEY_PASSPHRASE")
        if value:
            return value.encode()
        from_file = _file_passphrase(self.config)
        if from_file:
            return from_file
        path = self.default_passphrase_file
        if path.exists():
            return path.read_bytes().strip()
        if not create:
            raise SigningUnavailable(
                "no passphrase for the signing keys: set SIGNING_KEY_PASSPHRASE or SIGNING_KEY_PASSPHRASE_FILE"
            )
        import secrets

        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            return path.read_bytes().strip()
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_urlsafe(32).encode() + b"\n")
        return path.read_bytes().strip()

    # listing
    def kids(self) -> list[str]:
        if not self.keys.is_dir():
            return []
        return sorted(p.name.removesuffix(".cert.pem") for p in self.keys.glob("*.cert.pem"))

    def current_kid(self) -> str | None:
        try:
            kid = (self.directory / "current").read_text().strip()
        except OSError:
            return None
        return kid if kid in self.kids() else None

    def certificates(self) -> list[asn1_x509.Certificate]:
        """Every key's certificate, current and retired."""
        out = []
        for kid in self.kids():
            try:
                out.append(_load_certs((self.keys / f"{kid}.cert.pem").read_bytes())[0])
            except (OSError, ValueError):
                continue
        return out

    def load(self, kid: str) -> KeyMaterial:
        try:
            key = serialization.load_pem_private_key(
                (self.keys / f"{kid}.key.pem").read_bytes(), password=self.passphrase()
            )
            certs = _load_certs((self.keys / f"{kid}.cert.pem").read_bytes())
        except (OSError, ValueError, TypeError) as exc:
            raise SigningUnavailable(f"cannot load signing key {kid}: {exc}") from exc
        return KeyMaterial(key, certs[0], certs[1:], f"keyring:{self.directory}#{kid}")

    def current(self, create: bool = False) -> KeyMaterial:
        kid = self.current_kid()
        if kid is None and create:
            kid = self.init(exist_ok=True)
        if kid is None:
            raise SigningUnavailable(f"no signing key in {self.directory}: run `flask signing init`")
        return self.load(kid)

    # making keys
    def init(self, exist_ok: bool = False) -> str:
        """Make the first key (or import an unencrypted key of an older version).
        Atomic: a lock file made with O_EXCL, so two processes starting together
        end up with the same key."""
        with self._lock():
            kid = self.current_kid()
            if kid is not None:
                if exist_ok:
                    return kid
                raise SigningUnavailable(
                    f"{self.directory} already has a signing key ({kid}); use `flask signing rotate` for a new one"
                )
            legacy_key, legacy_cert = self.directory / "signing-key.pem", self.directory / "signing-cert.pem"
            if legacy_key.exists() and legacy_cert.exists():
                key = serialization.load_pem_private_key(legacy_key.read_bytes(), password=None)
                kid = self._store(key, legacy_cert.read_bytes())
                legacy_key.unlink()  # the key now lives encrypted in the ring
                return kid
            return self._store(*_generate(self.org))

    def rotate(self) -> str:
        """A new key for new documents; the old ones stay for verification."""
        with self._lock():
            return self._store(*_generate(self.org))

    def _store(self, key: PrivateKeyTypes, cert_pem: bytes) -> str:
        passphrase = self.passphrase(create=True)
        cert = _load_certs(cert_pem)[0]
        kid = key_id(cert)
        self.keys.mkdir(parents=True, exist_ok=True)
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(passphrase),
        )
        _write_new(self.keys / f"{kid}.key.pem", key_pem, 0o600)
        _write_new(self.keys / f"{kid}.cert.pem", cert_pem, 0o644)
        _write_new(self.directory / "current", kid.encode() + b"\n", 0o644, replace=True)
        return kid

    def _lock(self) -> AbstractContextManager[None]:
        import contextlib
        import time

        @contextlib.contextmanager
        def held() -> Iterator[None]:
            self.directory.mkdir(parents=True, exist_ok=True)
            lock = self.directory / ".generating"
            deadline = time.monotonic() + 60
            while True:
                try:
                    fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
                    break
                except FileExistsError:
                    if time.monotonic() > deadline:  # a crashed holder: take over
                        lock.unlink(missing_ok=True)
                        continue
                    time.sleep(0.05)
            try:
                yield
            finally:
                os.close(fd)
                lock.unlink(missing_ok=True)

        return held()


def _write_new(path: Path, data: bytes, mode: int, replace: bool = False) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, mode)
    if not replace and path.exists():
        tmp.unlink()
        raise SigningUnavailable(f"{path} exists already")
    tmp.replace(path)


def _generate(org: str) -> tuple[PrivateKeyTypes, bytes]:
    """A new RSA-2048 key and a self-signed document-signing certificate (10 years)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, f"{org} certificate signing"[:64]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org[:64]),
        ]
    )
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM)


def published_certificates(config: Config = None) -> list[asn1_x509.Certificate]:
    """Every certificate whose key signs or signed documents and credentials here:
    the key ring's (current and retired) and a configured key's."""
    certs = {key_id(c): c for c in KeyRing(config).certificates()}
    if _setting(config, "SIGNING_PKCS12_FILE") or (
        _setting(config, "SIGNING_KEY_FILE") and _setting(config, "SIGNING_CERT_FILE")
    ):
        try:
            cert = get_signer(config).certificate
            certs[key_id(cert)] = cert
        except SigningUnavailable:
            pass
    else:
        get_signer(config)  # the embedded default: make the first key if there is none yet
        certs = {key_id(c): c for c in KeyRing(config).certificates()}
    for path in (_setting(config, "SIGNING_RETIRED_CERTS") or "").split(os.pathsep):
        if path.strip():
            try:
                for cert in _load_certs(Path(path.strip()).read_bytes())[:1]:
                    certs.setdefault(key_id(cert), cert)
            except (OSError, ValueError):
                continue
    return list(certs.values())


# --- one signer per process ---------------------------------------------------------

_signers: dict[tuple[tuple[tuple[str, str | None], ...], str | None], PdfSigner] = {}  # (settings, kid)

CONFIG_KEYS = (
    "SIGNING_PKCS12_FILE",
    "SIGNING_KEY_FILE",
    "SIGNING_CERT_FILE",
    "SIGNING_CHAIN_FILE",
    "SIGNING_KEY_PASSPHRASE",
    "SIGNING_KEY_PASSPHRASE_FILE",
    "SIGNING_DIR",
    "ORG_NAME",
    "TSA_URL",
)


def signer_settings(config: Config) -> dict[str, str | None]:
    """The settings that choose the key, as a plain dict (picklable for worker processes)."""
    return {k: _setting(config, k) for k in CONFIG_KEYS}


def get_signer(config: Config = None) -> PdfSigner:
    """The process's signer for these settings (key loaded once). After
    `flask signing rotate`, running processes pick up the new key when they
    see the key ring's ``current`` change."""
    settings = signer_settings(config)
    external = bool(settings.get("SIGNING_PKCS12_FILE") or settings.get("SIGNING_KEY_FILE"))
    frozen = tuple(sorted(settings.items()))

    def ring_kid() -> str | None:
        return None if external else KeyRing(settings).current_kid()

    signer = _signers.get((frozen, ring_kid()))
    if signer is None:
        signer = PdfSigner(load_material(settings), tsa_url=settings.get("TSA_URL"))
        _signers[(frozen, ring_kid())] = signer
    return signer


_ring_keys: dict[tuple[str, str], KeyMaterial] = {}  # (SIGNING_DIR, kid): decrypted once per process


def ring_key(kid: str, config: Config = None) -> KeyMaterial | None:
    """The key ring's key ``kid`` (current or retired), or None when the ring has no such key (an external
    key signs, or the key was removed) or it cannot be loaded."""
    settings = signer_settings(config)
    if settings.get("SIGNING_PKCS12_FILE") or settings.get("SIGNING_KEY_FILE"):
        return None
    ring = KeyRing(settings)
    found = _ring_keys.get((str(ring.directory), kid))
    if found is None:
        if kid not in ring.kids():
            return None
        try:
            found = ring.load(kid)
        except SigningUnavailable:
            return None
        _ring_keys[(str(ring.directory), kid)] = found
    return found


def current_signer() -> PdfSigner:
    from flask import current_app

    return get_signer(current_app.config)
