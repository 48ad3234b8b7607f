"""The native runtime's TLS: a self-signed CA of its own and a server certificate it signs for
127.0.0.1, ::1 and localhost, so local clients take the path the cloud ones do (verify the server's
certificate against a CA they were given), with `verify-full`, since the host name matches here.

Made once per state directory (`.local/tls/`, the keys 0600 and the service user's, as Postgres
requires); the server certificate is made again when it is missing or within 30 days of expiring.
"""

from __future__ import annotations

import datetime
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # cryptography loads only when a certificate is made or read
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey, EllipticCurvePublicKey
    from cryptography.x509 import Certificate, CertificateBuilder

Progress = Callable[[str], None]

SSL_MODE = "verify-full"  # the host (127.0.0.1) is in the certificate: check the name too
CA_DAYS = 3650
SERVER_DAYS = 397  # what browsers accept, a habit worth keeping
RENEW_BEFORE = datetime.timedelta(days=30)
HOSTS = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class LocalTls:
    """Where one environment's certificates and keys are."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    @property
    def server_cert(self) -> Path:
        return self.directory / "server.crt"

    @property
    def server_key(self) -> Path:
        return self.directory / "server.key"

    def client_params(self) -> dict[str, str]:
        """What a libpq client adds to verify this environment's Postgres."""
        return {"sslmode": SSL_MODE, "sslrootcert": str(self.ca_cert)}

    def ensure(self, own: Callable[..., None], progress: Progress) -> bool:
        """Make what is missing or about to expire; True when anything was (re)made (a restart is due).

        `own` hands files to the service user (Postgres refuses a key it does not own).
        """
        self.directory.mkdir(mode=0o755, exist_ok=True)
        made = False
        if not (self.ca_cert.exists() and self.ca_key.exists()):
            progress(f"tls: a certificate authority of this environment's own ({self.ca_cert})")
            key = _new_key()
            _write(self.ca_key, _key_pem(key), 0o600)
            _write(self.ca_cert, _cert_pem(_ca_certificate(key)), 0o644)
            self.server_cert.unlink(missing_ok=True)  # signed by the CA it replaces
            made = True
        if self._server_due():
            progress("tls: a server certificate for 127.0.0.1, ::1 and localhost, signed by it")
            key = _new_key()
            ca_key = _load_ca_key(self.ca_key)
            _write(self.server_key, _key_pem(key), 0o600)
            _write(self.server_cert, _cert_pem(_server_certificate(key, ca_key)), 0o644)
            made = True
        own(self.directory, self.ca_cert, self.ca_key, self.server_cert, self.server_key)
        return made

    def _server_due(self) -> bool:
        if not (self.server_cert.exists() and self.server_key.exists()):
            return True
        # The file's age, not the certificate's own dates: reading those would load cryptography
        # on every `up` (~0.1 s) for a question whose answer is "no" for a year.
        age = datetime.timedelta(seconds=time.time() - self.server_cert.stat().st_mtime)
        return age > datetime.timedelta(days=SERVER_DAYS) - RENEW_BEFORE


def _write(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    path.chmod(mode)


def _new_key() -> EllipticCurvePrivateKey:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: EllipticCurvePrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _cert_pem(cert: Certificate) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM)


def _load_ca_key(key_path: Path) -> EllipticCurvePrivateKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TypeError(f"{key_path} is not an EC key")  # only ever written by _new_key
    return key


def _builder(subject: str, issuer: str, public_key: EllipticCurvePublicKey, days: int) -> CertificateBuilder:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
    )


CA_NAME = "pgstack local CA"


def _ca_certificate(key: EllipticCurvePrivateKey) -> Certificate:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    builder = _builder(CA_NAME, CA_NAME, key.public_key(), CA_DAYS)
    builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
    builder = builder.add_extension(
        x509.KeyUsage(
            digital_signature=False,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=True,
            crl_sign=True,
            encipher_only=False,
            decipher_only=False,
        ),
        critical=True,
    )
    builder = builder.add_extension(
        x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
    )
    return builder.sign(key, hashes.SHA256())


def _server_certificate(key: EllipticCurvePrivateKey, ca_key: EllipticCurvePrivateKey) -> Certificate:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID

    names: list[x509.GeneralName] = []
    for host in HOSTS:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    builder = _builder("localhost", CA_NAME, key.public_key(), SERVER_DAYS)
    builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    builder = builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
    )
    return builder.sign(ca_key, hashes.SHA256())
