"""Writes the PEM files of the TLS tests into DIR (python certs.py DIR): a test CA, a server
certificate for 127.0.0.1/localhost, a client certificate (CN=client,O=Rookery), and the failure
cases: an expired client certificate, a certificate of the right CA for another address
(10.9.9.9), and a "rogue" CA with a certificate of its own. Key stores are PEM files holding the PKCS#8 key and then the certificate, as ZooKeeper's
ssl.keyStore.type=PEM reads them; trust stores hold CA certificates."""

import datetime
import ipaddress
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = datetime.datetime.now(datetime.timezone.utc)
DAY = datetime.timedelta(days=1)


def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Rookery"), x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def ca(cn):
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name(cn))
        .issuer_name(name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + 3650 * DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def leaf(issuer, cn, expired=False, ip="127.0.0.1"):
    issuer_key, issuer_cert = issuer
    key = ec.generate_private_key(ec.SECP256R1())
    before, after = (NOW - 30 * DAY, NOW - DAY) if expired else (NOW - DAY, NOW + 3650 * DAY)
    san = [x509.IPAddress(ipaddress.ip_address(ip))]
    if ip == "127.0.0.1":
        san.insert(0, x509.DNSName("localhost"))
    cert = (
        x509.CertificateBuilder()
        .subject_name(name(cn))
        .issuer_name(issuer_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(before)
        .not_valid_after(after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .sign(issuer_key, hashes.SHA256())
    )
    return key, cert


def pem_cert(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def pem_key(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def main(out):
    os.makedirs(out, exist_ok=True)
    good, rogue = ca("Rookery Test CA"), ca("Rogue CA")
    write(os.path.join(out, "ca.pem"), pem_cert(good[1]))
    write(os.path.join(out, "rogue-ca.pem"), pem_cert(rogue[1]))
    for stem, issuer, cn, expired, ip in [
        ("server", good, "server", False, "127.0.0.1"),
        ("client", good, "client", False, "127.0.0.1"),
        ("expired", good, "expired", True, "127.0.0.1"),
        ("rogue", rogue, "rogue", False, "127.0.0.1"),
        # From the right CA, for another host's address (hostname verification).
        ("elsewhere", good, "elsewhere", False, "10.9.9.9"),
    ]:
        key, cert = leaf(issuer, cn, expired, ip)
        # A key store (key then certificate), and the two halves for clients that want them apart.
        write(os.path.join(out, stem + ".pem"), pem_key(key) + pem_cert(cert))
        write(os.path.join(out, stem + "-cert.pem"), pem_cert(cert))
        write(os.path.join(out, stem + "-key.pem"), pem_key(key))


if __name__ == "__main__":
    main(sys.argv[1])
