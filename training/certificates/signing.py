"""PAdES signatures on certificate PDFs, with the organisation's key.

Where the key comes from is configuration (app config or environment):

- ``SIGNING_PKCS12_FILE`` (+ ``SIGNING_KEY_PASSPHRASE``): a PKCS#12 bundle; or
- ``SIGNING_KEY_FILE`` and ``SIGNING_CERT_FILE`` (PEM or DER, + optional
  ``SIGNING_CHAIN_FILE`` with intermediate certificates and ``SIGNING_KEY_PASSPHRASE``);
- otherwise (the embedded default) an RSA-2048 key and a self-signed
  certificate are generated on first run under ``SIGNING_DIR`` and kept there.

Speed: pyHanko's standard PDF signer re-reads the key and rewrites the PDF as
an incremental update for every signature. Here the PDF writer (certificates.pdf)
already writes the signature field, the signature dictionary and a zero-filled
``/Contents`` placeholder; signing only fills in ``/ByteRange``, hashes the two
covered ranges and asks pyHanko for the CMS container (PAdES baseline B, with
the signing-certificate-v2 attribute) with a key loaded once per process.
The result is an ordinary PAdES signature covering the whole file, which
pyHanko, Acrobat and other validators check as usual.
"""
from __future__ import annotations

import asyncio
import hashlib
import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from pyhanko.sign.signers.pdf_cms import SimpleSigner
from pyhanko_certvalidator.registry import SimpleCertificateStore

BYTE_RANGE_PLACEHOLDER = b"/ByteRange [0 0000000000 0000000000 0000000000]"
CONTENTS_KEY = b"/Contents <"


class SigningUnavailable(RuntimeError):
    """The configured key or certificate cannot be loaded."""


class _PreloadedSigner(SimpleSigner):
    """pyHanko's SimpleSigner, but with the private key parsed once."""

    def __init__(self, key, *args, **kwargs):
        self._key = key
        super().__init__(*args, **kwargs)

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run=False) -> bytes:
        return self.sign_raw(data, digest_algorithm)

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        algo = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}[digest_algorithm]
        if isinstance(self._key, rsa.RSAPrivateKey):
            return self._key.sign(data, padding.PKCS1v15(), algo)
        if isinstance(self._key, ec.EllipticCurvePrivateKey):
            return self._key.sign(data, ec.ECDSA(algo))
        raise SigningUnavailable(f"unsupported key type {type(self._key).__name__}")


@dataclass
class KeyMaterial:
    key: object  # a cryptography private key
    cert: asn1_x509.Certificate
    chain: list[asn1_x509.Certificate]
    source: str


class PdfSigner:
    """Signs PDFs written with a placeholder (see certificates.pdf). One per process."""

    def __init__(self, material: KeyMaterial, digest: str = "sha256"):
        self.material = material
        self.digest = digest
        key_der = material.key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption())
        self._signer = _PreloadedSigner(
            material.key, signing_cert=material.cert, signing_key=asn1_keys.PrivateKeyInfo.load(key_der),
            cert_registry=SimpleCertificateStore.from_certs([material.cert, *material.chain]))
        self._loop = asyncio.new_event_loop()
        self._template = self._prepare_template()
        # Room for the CMS container, in hex digits: measured once, with margin.
        sample = self._cms(b"\0" * 32)
        self.reserve = 2 * len(sample) + 2048

    def _pyhanko_cms(self, digest: bytes) -> bytes:
        content_info = self._loop.run_until_complete(
            self._signer.async_sign(digest, self.digest, use_pades=True))
        return content_info.dump()

    def _prepare_template(self):
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

    def _patched_cms(self, template, digest: bytes) -> bytes:
        der, at_attrs, attrs_der, at_digest, at_sig, sig_len = template
        attrs = attrs_der[:at_digest] + digest + attrs_der[at_digest + len(digest):]
        # Signed attributes are signed as a DER SET OF (tag 0x31), stored as [0] IMPLICIT.
        signature = self._signer.sign_raw(b"\x31" + attrs[1:], self.digest)
        if len(signature) != sig_len:
            return self._pyhanko_cms(digest)
        out = bytearray(der)
        out[at_attrs:at_attrs + len(attrs)] = attrs
        out[at_sig:at_sig + sig_len] = signature
        return bytes(out)

    def _cms(self, digest: bytes) -> bytes:
        if self._template is not None:
            return self._patched_cms(self._template, digest)
        return self._pyhanko_cms(digest)

    @property
    def certificate(self) -> asn1_x509.Certificate:
        return self.material.cert

    @property
    def signer_name(self) -> str:
        return self.material.cert.subject.human_friendly

    def sign(self, pdf: bytes | bytearray) -> bytes:
        """Fill in the placeholder of a PDF written by certificates.pdf and return it signed."""
        buf = bytearray(pdf)
        at = buf.rfind(BYTE_RANGE_PLACEHOLDER)
        if at < 0:
            raise ValueError("the PDF has no signature placeholder")
        start = buf.find(CONTENTS_KEY, at) + len(CONTENTS_KEY) - 1  # offset of "<"
        end = buf.index(b">", start) + 1
        if end - start - 2 < self.reserve - 2048:
            raise ValueError("the signature placeholder is too small for this signer")
        ranges = f"/ByteRange [0 {start:010d} {end:010d} {len(buf) - end:010d}]".encode()
        buf[at:at + len(BYTE_RANGE_PLACEHOLDER)] = ranges
        h = hashlib.new(self.digest)
        h.update(memoryview(buf)[:start])
        h.update(memoryview(buf)[end:])
        cms = self._cms(h.digest()).hex().encode()
        if len(cms) > end - start - 2:
            raise ValueError("the signature does not fit its placeholder")
        buf[start + 1:start + 1 + len(cms)] = cms
        return bytes(buf)


# --- key material -----------------------------------------------------------------

def _setting(config, name: str) -> str | None:
    value = (config or {}).get(name) if config is not None else None
    return value or os.environ.get(name) or None


def _load_private_key(data: bytes, passphrase: bytes | None):
    if b"-----BEGIN" in data:
        return serialization.load_pem_private_key(data, password=passphrase)
    return serialization.load_der_private_key(data, password=passphrase)


def _load_certs(data: bytes) -> list[asn1_x509.Certificate]:
    if b"-----BEGIN" in data:
        blocks = re.findall(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", data, re.S)
        return [asn1_x509.Certificate.load(x509.load_pem_x509_certificate(b).public_bytes(
            serialization.Encoding.DER)) for b in blocks]
    return [asn1_x509.Certificate.load(data)]


def load_material(config=None) -> KeyMaterial:
    """The organisation's key and certificate, from configuration or the embedded default."""
    passphrase = _setting(config, "SIGNING_KEY_PASSPHRASE")
    passphrase = passphrase.encode() if passphrase else None
    try:
        p12 = _setting(config, "SIGNING_PKCS12_FILE")
        if p12:
            from cryptography.hazmat.primitives.serialization import pkcs12
            key, cert, extra = pkcs12.load_key_and_certificates(Path(p12).read_bytes(), passphrase)
            to_asn1 = lambda c: asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))  # noqa: E731
            return KeyMaterial(key, to_asn1(cert), [to_asn1(c) for c in extra or []], f"pkcs12:{p12}")
        key_file, cert_file = _setting(config, "SIGNING_KEY_FILE"), _setting(config, "SIGNING_CERT_FILE")
        if key_file and cert_file:
            key = _load_private_key(Path(key_file).read_bytes(), passphrase)
            certs = _load_certs(Path(cert_file).read_bytes())
            chain_file = _setting(config, "SIGNING_CHAIN_FILE")
            chain = _load_certs(Path(chain_file).read_bytes()) if chain_file else []
            return KeyMaterial(key, certs[0], certs[1:] + chain, f"files:{key_file}")
    except (OSError, ValueError, TypeError) as exc:
        raise SigningUnavailable(f"cannot load the signing key: {exc}") from exc
    directory = _setting(config, "SIGNING_DIR") or "instance/signing"
    org = _setting(config, "ORG_NAME") or "Training Organisation"
    return _embedded_default(Path(directory), org)


def _embedded_default(directory: Path, org: str) -> KeyMaterial:
    """Generate a key and self-signed certificate on first run and keep them.
    Creation is atomic (a lock file made with O_EXCL), so two processes starting
    together end up with the same key."""
    key_path, cert_path = directory / "signing-key.pem", directory / "signing-cert.pem"
    if not (key_path.exists() and cert_path.exists()):
        directory.mkdir(parents=True, exist_ok=True)
        lock = directory / ".generating"
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            fd = None
        if fd is not None:
            try:
                if not (key_path.exists() and cert_path.exists()):
                    _generate(key_path, cert_path, org)
            finally:
                os.close(fd)
                lock.unlink(missing_ok=True)
        else:
            import time
            deadline = time.monotonic() + 30
            while lock.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    certs = _load_certs(cert_path.read_bytes())
    return KeyMaterial(key, certs[0], certs[1:], f"embedded:{directory}")


def _generate(key_path: Path, cert_path: Path, org: str) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, f"{org} certificate signing"[:64]),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, org[:64]),
    ])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    tmp_key, tmp_cert = key_path.with_suffix(".tmp"), cert_path.with_suffix(".tmp")
    tmp_key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    tmp_key.chmod(0o600)
    tmp_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    tmp_key.replace(key_path)
    tmp_cert.replace(cert_path)


# --- one signer per process ---------------------------------------------------------

_signers: dict[tuple, PdfSigner] = {}

CONFIG_KEYS = ("SIGNING_PKCS12_FILE", "SIGNING_KEY_FILE", "SIGNING_CERT_FILE", "SIGNING_CHAIN_FILE",
               "SIGNING_KEY_PASSPHRASE", "SIGNING_DIR", "ORG_NAME")


def signer_settings(config) -> dict:
    """The settings that choose the key, as a plain dict (picklable for worker processes)."""
    return {k: _setting(config, k) for k in CONFIG_KEYS}


def get_signer(config=None) -> PdfSigner:
    """The process's signer for these settings (key loaded once)."""
    settings = signer_settings(config)
    cache_key = tuple(sorted(settings.items()))
    signer = _signers.get(cache_key)
    if signer is None:
        signer = _signers[cache_key] = PdfSigner(load_material(settings))
    return signer


def current_signer() -> PdfSigner:
    from flask import current_app
    return get_signer(current_app.config)
