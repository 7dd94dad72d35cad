"""test_delivery_tls.py -- outbound STARTTLS (RFC 3207) under the three policies.

The receiver is aiosmtpd with a certificate made here with the openssl CLI (self-signed, for the
MX host's name). "opportunistic" encrypts whenever STARTTLS is offered and, when the handshake or
the command fails, delivers in plaintext (RFC 7435); "required" verifies the certificate chain
and the host name and defers the message when either fails; with the certificate as a trust
anchor in `[delivery] ca_file` it delivers. The receiver side says whether a session ran over TLS.
A message of a few MB, streamed through TLS in pieces, arrives whole.
"""
import pytest

from delivery_support import (SENDER, large_message, make_certificate, message_bytes,
                              network_fixture, strip_prefix, submit, wait_attempted, wait_gone)

MX_HOST = "mx.tls.test"


@pytest.fixture
def net(tmp_path, relayd_factory):
    yield from network_fixture(tmp_path, relayd_factory)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return make_certificate(tmp_path_factory.mktemp("tls"), MX_HOST)


@pytest.fixture(scope="module")
def other_certificate(tmp_path_factory):
    return make_certificate(tmp_path_factory.mktemp("tls-other"), "mx.elsewhere.test")


def tls_receiver(net, cert, key, **options):
    net.dnsmasq(mx=[("tls.test", MX_HOST, 10)], hosts=[(MX_HOST, "127.0.0.2")])
    return net.receiver("127.0.0.2", hostname=MX_HOST, cert=cert, key=key, **options)


def test_opportunistic_encrypts_with_a_self_signed_certificate(net, certificate):
    receiver = tls_receiver(net, *certificate, starttls="ok")
    relayd = net.relayd(tls="opportunistic")
    queue_id = submit(relayd, SENDER, ["user@tls.test"], message_bytes("opportunistic"))
    [received] = receiver.wait_for(1)
    assert received.tls, "the message should have travelled over TLS"
    assert received.tls_version.startswith("TLSv1."), received.tls_version
    wait_gone(relayd, queue_id)


def test_large_message_is_streamed_whole_over_tls(net, certificate):
    receiver = tls_receiver(net, *certificate, starttls="ok")
    relayd = net.relayd(tls="opportunistic")
    data = large_message("large over TLS", to="user@tls.test")
    queue_id = submit(relayd, SENDER, ["user@tls.test"], data)
    [received] = receiver.wait_for(1, timeout=30)
    assert received.tls, "the message should have travelled over TLS"
    _, rest = strip_prefix(received.data, data)
    assert rest == data
    wait_gone(relayd, queue_id)



def test_required_defers_on_an_untrusted_certificate(net, certificate):
    receiver = tls_receiver(net, *certificate, starttls="ok")
    relayd = net.relayd(tls="required", retry="[3600]")  # the system's trust anchors
    queue_id = submit(relayd, SENDER, ["user@tls.test"], message_bytes("untrusted"))
    entry = wait_attempted(relayd, queue_id, timeout=5)
    error = entry["last_error"].lower()
    assert "certificate" in error and "verif" in error, entry["last_error"]
    assert [r["status"] for r in entry["recipients"]] == ["pending"]
    assert receiver.received == [], "nothing may be sent to an unverified host"


def test_required_delivers_with_the_certificate_trusted(net, certificate):
    cert, key = certificate
    receiver = tls_receiver(net, cert, key, starttls="ok")
    relayd = net.relayd(tls="required", ca_file=str(cert))
    queue_id = submit(relayd, SENDER, ["user@tls.test"], message_bytes("trusted"))
    [received] = receiver.wait_for(1)
    assert received.tls
    wait_gone(relayd, queue_id)


def test_required_defers_on_a_wrong_host_name(net, other_certificate):
    # A trusted certificate, but for another name than the MX host.
    cert, key = other_certificate
    receiver = tls_receiver(net, cert, key, starttls="ok")
    relayd = net.relayd(tls="required", ca_file=str(cert), retry="[3600]")
    queue_id = submit(relayd, SENDER, ["user@tls.test"], message_bytes("wrong name"))
    entry = wait_attempted(relayd, queue_id, timeout=5)
    assert "certificate" in entry["last_error"].lower(), entry["last_error"]
    assert receiver.received == []


def test_required_defers_when_starttls_is_not_offered(net):
    net.dnsmasq(mx=[("tls.test", MX_HOST, 10)], hosts=[(MX_HOST, "127.0.0.2")])
    receiver = net.receiver("127.0.0.2", hostname=MX_HOST)
    relayd = net.relayd(tls="required", retry="[3600]")
    queue_id = submit(relayd, SENDER, ["user@tls.test"], message_bytes("no starttls"))
    entry = wait_attempted(relayd, queue_id, timeout=5)
    assert "tls" in entry["last_error"].lower(), entry["last_error"]
    assert receiver.received == []



@pytest.mark.parametrize("failure", [
    "refuse",
    "garbage",
    "hangup",
])
def test_opportunistic_falls_back_to_plaintext(net, failure):
    # "refuse": STARTTLS advertised, answered 454; "garbage": 220, then the handshake gets
    # bytes that are no TLS; "hangup": 220, then the server closes the connection.
    receiver = tls_receiver(net, None, None, starttls=failure)
    # One worker: the memory of a failed handshake is per worker.
    relayd = net.relayd(tls="opportunistic", workers=1)
    queue_id = submit(relayd, SENDER, ["user@tls.test"], message_bytes(f"fallback {failure}"))
    try:
        [received] = receiver.wait_for(1, timeout=6)
    finally:
        assert relayd.process.poll() is None, f"relayd died ({relayd.process.returncode})"
    assert not received.tls
    failures = receiver.tls_refused if failure == "refuse" else receiver.tls_broken
    assert failures >= 1
    wait_gone(relayd, queue_id)
    assert len(receiver.received) == 1

    # No second try: after a broken handshake the host is remembered (tls_plaintext_fallback_s),
    # after a refusal the plaintext connection goes on. The next message goes in plaintext.
    second = submit(relayd, SENDER, ["user@tls.test"], message_bytes(f"again {failure}"))
    receiver.wait_for(2, timeout=6)
    wait_gone(relayd, second)
    assert not receiver.received[1].tls
    assert (receiver.tls_refused if failure == "refuse" else receiver.tls_broken) == failures
