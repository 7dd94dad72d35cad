"""The Received: field relayd prepends at delivery names the TLS the client used (version and
cipher) and the resource that logged in, never its password: a STARTTLS submission with AUTH,
and a plaintext one on loopback that shows the login but no TLS."""
import re
import smtplib
import ssl

import pytest

from delivery_support import delivery_settings, make_certificate, network_fixture, wait_ready
from helpers import wait_until

FAST_HASHES = """
[credentials]
argon2_memory_kib = 256
argon2_iterations = 1
"""


@pytest.fixture
def net(tmp_path, relayd_factory):
    yield from network_fixture(tmp_path, relayd_factory)


def start(net, tmp_path, listener):
    receiver = net.receiver("127.0.0.2")
    (tmp_path / "tls").mkdir()
    cert, key = make_certificate(tmp_path / "tls", "relay.test")
    settings = (delivery_settings(None, net.port, routes=[("example.net",
                                                           f"127.0.0.2:{net.port}")])
                + FAST_HASHES
                + f'\n[tls]\ncertificate_chain_file = "{cert}"\nprivate_key_file = "{key}"\n')
    relayd = net.factory(settings=settings, listener=listener, start=False)
    relayd.ctl("project", "add", "acme")
    added = relayd.ctl("resource", "add", "acme/main").stdout
    relayd.password = re.search(r"password: (\S+)", added).group(1)
    relayd.ctl("domain", "add", "acme/main", "acme.example")
    relayd.start()
    wait_ready(relayd)
    return relayd, receiver


def send(relayd, subject, tls):
    client = smtplib.SMTP("127.0.0.1", relayd.port, timeout=20)
    client.ehlo("client.test")
    if tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        client.starttls(context=context)
        client.ehlo("client.test")
    client.login("acme/main", relayd.password)
    client.sendmail("ann@acme.example", ["rcpt@example.net"],
                    f"From: <ann@acme.example>\r\nTo: <rcpt@example.net>\r\nSubject: {subject}\r\n"
                    f"Message-ID: <{subject}@acme.example>\r\n\r\nHi.\r\n")
    client.quit()


def received_field(receiver, subject):
    wait_until(lambda: any(subject.encode() in item.data for item in receiver.received),
               timeout=15, message=f"{subject} delivered")
    data = [item.data for item in receiver.received if subject.encode() in item.data][0]
    assert data.startswith(b"Received: "), data[:200]
    field = re.match(rb"Received: .*?\r\n(?=\S)", data, re.S).group(0)
    return field.decode()


def test_starttls_submission_shows_tls_and_resource(net, tmp_path):
    relayd, receiver = start(net, tmp_path, 'auth = "required"\ntls = "starttls"\n')
    send(relayd, "over-tls", tls=True)
    field = received_field(receiver, "over-tls")
    assert re.search(r"\(using TLSv1\.[23] with cipher [A-Z0-9_-]+\)", field), field
    assert "(authenticated as acme/main)" in field
    assert "with ESMTPSA id" in field
    assert relayd.password not in field


def test_plaintext_submission_shows_the_resource_and_no_tls(net, tmp_path):
    relayd, receiver = start(net, tmp_path, 'auth = "required"\nauth_plaintext = true\n'
                             'clients = ["127.0.0.0/8"]\n')
    send(relayd, "plain", tls=False)
    field = received_field(receiver, "plain")
    assert "(using" not in field
    assert "(authenticated as acme/main)" in field
    assert "with ESMTPA id" in field
    assert relayd.password not in field
