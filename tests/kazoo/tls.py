"""The TLS client port through kazoo (use_ssl) and openssl s_client: a client with a certificate
from the trusted CA is authenticated as x509:<its subject>, which x509 ACLs and whoAmI show and
X509AuthenticationProvider.superUser makes super; the failure paths (a certificate from another
CA, an expired certificate, no certificate while clientAuth=need, plain text on the TLS port, a
client that does not trust the server) are refused, and the server goes on serving everyone,
on both ports.

Usage: tls.py TLS_HOST:PORT PLAIN_HOST:PORT CERT_DIR (the files of tests/tls/certs.py). The server
is expected to run with ssl.keyStore.location=server.pem, ssl.trustStore.location=ca.pem,
authProvider.x509=org.apache.zookeeper.server.auth.X509AuthenticationProvider and
X509AuthenticationProvider.superUser=CN=server,O=Rookery."""

import os
import socket
import subprocess
import sys

from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError
from kazoo.security import make_acl

from zkhelp import WAIT, WhoAmI, call, close, step

TLS, PLAIN, CERTS = sys.argv[1], sys.argv[2], sys.argv[3]
CLIENT_ID = "CN=client,O=Rookery"


def cert(name):
    return os.path.join(CERTS, name)


def tls_client(stem="client", ca="ca.pem", **kw):
    c = KazooClient(
        hosts=TLS,
        timeout=10.0,
        use_ssl=True,
        verify_certs=True,
        ca=cert(ca),
        certfile=cert(stem + "-cert.pem") if stem else None,
        keyfile=cert(stem + "-key.pem") if stem else None,
        **kw,
    )
    c.start(timeout=WAIT)
    return c


def refused_quick(what, **kw):
    """As refused(), with a short start timeout (kazoo retries until it)."""
    c = KazooClient(
        hosts=TLS,
        timeout=4.0,
        use_ssl=True,
        verify_certs=True,
        ca=cert(kw.get("ca", "ca.pem")),
        certfile=cert(kw["stem"] + "-cert.pem") if kw.get("stem") else None,
        keyfile=cert(kw["stem"] + "-key.pem") if kw.get("stem") else None,
    )
    try:
        c.start(timeout=3)
    except Exception:  # noqa: BLE001 - a timeout: no session
        c.stop()
        c.close()
        return
    close(c)
    raise AssertionError("%s: got a session" % what)


def s_client(cert_stem, word, ca="ca.pem"):
    """A four-letter word over TLS with openssl s_client; returns (exit code, output)."""
    host, port = TLS.rsplit(":", 1)
    args = ["openssl", "s_client", "-quiet", "-verify_return_error", "-connect", "%s:%s" % (host, port)]
    args += ["-CAfile", cert(ca)]
    if cert_stem:
        args += ["-cert", cert(cert_stem + "-cert.pem"), "-key", cert(cert_stem + "-key.pem")]
    p = subprocess.run(args, input=word.encode(), capture_output=True, timeout=WAIT)
    return p.returncode, p.stdout.decode(errors="replace")


good = plain = None
try:
    step("a client certificate from the trusted CA: a session, authenticated as x509")
    good = tls_client()
    assert ("x509", CLIENT_ID) in set(call(good, WhoAmI())), call(good, WhoAmI())
    good.create("/tls", b"over tls", acl=[make_acl("x509", CLIENT_ID, all=True)])
    assert good.get("/tls")[0] == b"over tls"
    big = bytes(range(256)) * 2000  # 512000 bytes: many TLS records each way
    good.create("/tls-big", big)
    assert good.get("/tls-big")[0] == big

    step("the plain port still serves, and the x509 ACL keeps its clients out")
    plain = KazooClient(hosts=PLAIN, timeout=10.0)
    plain.start(timeout=WAIT)
    try:
        plain.get("/tls")
        raise AssertionError("a plain-port client read an x509-only node")
    except NoAuthError:
        pass

    step("openssl s_client: ruok over TLS with the client certificate")
    rc, out = s_client("client", "ruok")
    assert out == "imok", (rc, out)

    step("failures: another CA, expired, no certificate, untrusted server, plain text")
    refused_quick("a client certificate from another CA", stem="rogue")
    refused_quick("an expired client certificate", stem="expired")
    refused_quick("no client certificate with clientAuth=need", stem=None)
    refused_quick("a client that trusts another CA", stem="client", ca="rogue-ca.pem")
    rc, out = s_client("expired", "ruok")
    assert rc != 0 and "imok" not in out, (rc, out)
    rc, out = s_client("client", "ruok", ca="rogue-ca.pem")
    assert rc != 0 and "imok" not in out, (rc, out)
    host, port = TLS.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=WAIT) as s:
        s.sendall(b"ruok")
        s.settimeout(WAIT)
        try:
            got = s.recv(100)
        except OSError:
            got = b""
    assert b"imok" not in got, got
    rogue_plain = KazooClient(hosts=TLS, timeout=4.0)
    try:
        rogue_plain.start(timeout=3)
        raise AssertionError("a plain-text kazoo client got a session on the TLS port")
    except AssertionError:
        raise
    except Exception:  # noqa: BLE001 - a timeout
        pass
    finally:
        rogue_plain.stop()
        rogue_plain.close()

    step("the server still serves both ports")
    assert good.get("/tls")[0] == b"over tls"
    assert "tls" in plain.get_children("/")
    again = tls_client()
    assert again.get("/tls")[0] == b"over tls"
    close(again)

    step("X509AuthenticationProvider.superUser: the server's certificate is super")
    root = tls_client(stem="server")
    assert ("super", "CN=server,O=Rookery") in set(call(root, WhoAmI())), call(root, WhoAmI())
    assert root.get("/tls")[0] == b"over tls"
    close(root)
finally:
    close(*[c for c in (good, plain) if c is not None])
print("tls: ok")
