"""A machine's TLS material, as docker-machine lays it out in the machine's directory:

    ca.pem ca-key.pem          the machine's own CA (signs the two below; its key never leaves)
    server.pem server-key.pem  `pallet serve`'s certificate (SANs: the addresses clients use)
    cert.pem key.pem           the client certificate (extendedKeyUsage clientAuth)

One CA per machine rather than docker-machine's one shared CA: a leaked client key then opens
one host, and `machine rm` deletes every trace of the machine with its directory. Keys are
ECDSA P-256 (small, fast to make; the docker CLI, docker-py and Go's TLS take them). Every file,
certificates too, is written 0600 through a temporary name, so no half-written or readable key
is ever in place.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

VALID_DAYS = 3 * 365


@dataclass(frozen=True)
class CertPaths:
    directory: Path

    @property
    def ca(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca-key.pem"

    @property
    def server(self) -> Path:
        return self.directory / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.directory / "server-key.pem"

    @property
    def cert(self) -> Path:
        return self.directory / "cert.pem"

    @property
    def key(self) -> Path:
        return self.directory / "key.pem"


def _write(path: Path, data: bytes, mode: int) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
    finally:
        os.close(fd)
    os.rename(temporary, path)


def _new_key():
    from cryptography.hazmat.primitives.asymmetric import ec
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key) -> bytes:
    from cryptography.hazmat.primitives import serialization
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def _cert(subject: str, public_key, issuer_name, signing_key, *, ca: bool = False,
          usage=None, sans: tuple[str, ...] = ()):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "pallet machine"),
                      x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (x509.CertificateBuilder()
               .subject_name(name)
               .issuer_name(issuer_name or name)
               .public_key(public_key)
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None),
                              critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False,
            encipher_only=False, decipher_only=False), critical=True)
    else:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, key_encipherment=True, content_commitment=False,
            data_encipherment=False, key_agreement=True, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if sans:
        entries = []
        for san in sans:
            try:
                entries.append(x509.IPAddress(ipaddress.ip_address(san)))
            except ValueError:
                entries.append(x509.DNSName(san))
        builder = builder.add_extension(x509.SubjectAlternativeName(entries), critical=False)
    return builder.sign(signing_key, hashes.SHA256())


def make_certificates(directory: Path, machine: str, sans: tuple[str, ...]) -> CertPaths:
    """A CA, a server certificate for `sans` (IPs and names) and a client certificate."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID
    paths = CertPaths(directory)
    pem = serialization.Encoding.PEM
    ca_key = _new_key()
    ca = _cert(f"pallet machine CA {machine}", ca_key.public_key(), None, ca_key, ca=True)
    server_key, client_key = _new_key(), _new_key()
    server = _cert(machine, server_key.public_key(), ca.subject, ca_key,
                   usage=ExtendedKeyUsageOID.SERVER_AUTH, sans=tuple(dict.fromkeys(sans)))
    client = _cert("client", client_key.public_key(), ca.subject, ca_key,
                   usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    _write(paths.ca_key, _key_pem(ca_key), 0o600)
    _write(paths.server_key, _key_pem(server_key), 0o600)
    _write(paths.key, _key_pem(client_key), 0o600)
    _write(paths.ca, ca.public_bytes(pem), 0o600)
    _write(paths.server, server.public_bytes(pem), 0o600)
    _write(paths.cert, client.public_bytes(pem), 0o600)
    return paths
