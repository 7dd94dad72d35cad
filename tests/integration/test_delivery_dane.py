"""test_delivery_dane.py -- DANE for SMTP (RFC 7672) against real DNSSEC on loopback.

nsd serves the zone dane.test, signed with ldns-signzone, and plain.test, the same records
unsigned; unbound validates with dane.test's key as its trust anchor (dnssec_support.py). The
MX host mx.<zone> is an aiosmtpd receiver on 127.0.0.2 with a self-signed certificate made here;
its TLSA record is DANE-EE(3) SPKI(1) SHA2-256(1) of that certificate's key, or of another key.
relayd runs with [delivery] dane = true and unbound as its resolver.
"""
import hashlib
import subprocess

import pytest

from delivery_support import (SENDER, make_certificate, message_bytes, network_fixture,
                              submit, wait_attempted, wait_gone)
from dnssec_support import DnssecDns

RECEIVER = "127.0.0.2"


@pytest.fixture
def net(tmp_path, relayd_factory):
    yield from network_fixture(tmp_path, relayd_factory)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """(certificate, key) of the MX host of each zone, and of a stranger to both."""
    folder = tmp_path_factory.mktemp("dane")
    return {name: make_certificate(folder, name)
            for name in ("mx.dane.test", "mx.plain.test", "mx.stranger.test")}


def spki_sha256(certificate):
    """The data of a TLSA 3 1 1 record for `certificate` (PEM), with the openssl CLI."""
    public_key = subprocess.run(["openssl", "x509", "-in", str(certificate), "-noout", "-pubkey"],
                                check=True, capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=public_key,
                         check=True, capture_output=True).stdout
    return hashlib.sha256(der).hexdigest()


def zone_records(port, tlsa_certificate):
    return ["@ MX 10 mx", f"mx A {RECEIVER}",
            f"_{port}._tcp.mx TLSA 3 1 1 {spki_sha256(tlsa_certificate)}"]


def start_dns(net, tlsa_certificate, signed=True):
    """dane.test (signed or not) and plain.test (never signed), TLSA naming `tlsa_certificate`."""
    zones = {"dane.test": zone_records(net.port, tlsa_certificate),
             "plain.test": zone_records(net.port, tlsa_certificate)}
    net.dns = DnssecDns(net.folder, zones, signed={"dane.test"} if signed else set())
    return net.dns


def dane_relayd(net, **options):
    return net.relayd(tls="opportunistic", retry="[3600]", extra="dane = true", **options)


def test_a_matching_tlsa_record_delivers_over_verified_tls(net, certificates):
    cert, key = certificates["mx.dane.test"]
    dns = start_dns(net, cert)
    rcode, authenticated, _ = dns.query(f"_{net.port}._tcp.mx.dane.test", "TLSA")
    assert (rcode, authenticated) == ("NOERROR", True), "unbound should validate the signed zone"
    receiver = net.receiver(RECEIVER, hostname="mx.dane.test", cert=cert, key=key,
                            starttls="ok")
    relayd = dane_relayd(net)
    queue_id = submit(relayd, SENDER, ["user@dane.test"], message_bytes("dane"))
    [received] = receiver.wait_for(1)
    assert received.tls, "DANE mail must travel over TLS"
    wait_gone(relayd, queue_id)
    assert "tls=dane verified (DANE-EE(3) SPKI(1) SHA2-256(1) matched the leaf)" in relayd.log()


def test_a_mismatching_tlsa_record_defers(net, certificates):
    cert, key = certificates["mx.dane.test"]
    start_dns(net, certificates["mx.stranger.test"][0])
    receiver = net.receiver(RECEIVER, hostname="mx.dane.test", cert=cert, key=key,
                            starttls="ok")
    relayd = dane_relayd(net)
    queue_id = submit(relayd, SENDER, ["user@dane.test"], message_bytes("mismatch"))
    entry = wait_attempted(relayd, queue_id, timeout=10)
    assert "DANE: no TLSA record matches the certificate of mx.dane.test" in entry["last_error"], \
        entry["last_error"]
    assert [r["status"] for r in entry["recipients"]] == ["pending"]
    assert receiver.received == [], "nothing may be sent to a host whose certificate mismatches"


def test_a_host_with_tlsa_but_without_starttls_gets_no_plaintext(net, certificates):
    start_dns(net, certificates["mx.dane.test"][0])
    receiver = net.receiver(RECEIVER, hostname="mx.dane.test")  # offers no STARTTLS
    relayd = dane_relayd(net)
    queue_id = submit(relayd, SENDER, ["user@dane.test"], message_bytes("stripped"))
    entry = wait_attempted(relayd, queue_id, timeout=10)
    error = entry["last_error"]
    assert "DANE: TLS is mandatory for mx.dane.test" in error and "STARTTLS" in error, error
    assert receiver.received == [], "a DANE host must never get mail in plaintext"


def test_the_same_records_unsigned_deliver_as_before(net, certificates):
    # plain.test publishes a TLSA record that matches nothing, but without DNSSEC it means
    # nothing: opportunistic TLS, delivered.
    cert, key = certificates["mx.plain.test"]
    dns = start_dns(net, certificates["mx.stranger.test"][0])
    rcode, authenticated, _ = dns.query(f"_{net.port}._tcp.mx.plain.test", "TLSA")
    assert (rcode, authenticated) == ("NOERROR", False)
    receiver = net.receiver(RECEIVER, hostname="mx.plain.test", cert=cert, key=key,
                            starttls="ok")
    relayd = dane_relayd(net)
    queue_id = submit(relayd, SENDER, ["user@plain.test"], message_bytes("unsigned"))
    [received] = receiver.wait_for(1)
    assert received.tls
    wait_gone(relayd, queue_id)
    assert "tls=dane" not in relayd.log()


def test_dane_off_ignores_even_signed_records(net, certificates):
    cert, key = certificates["mx.dane.test"]
    start_dns(net, certificates["mx.stranger.test"][0])
    receiver = net.receiver(RECEIVER, hostname="mx.dane.test", cert=cert, key=key,
                            starttls="ok")
    relayd = net.relayd(tls="opportunistic", retry="[3600]",
                        extra='dane = true\n\n[[shaping]]\ndomain = "dane.test"\ndane = false')
    queue_id = submit(relayd, SENDER, ["user@dane.test"], message_bytes("off"))
    receiver.wait_for(1)
    wait_gone(relayd, queue_id)
    assert "tls=dane" not in relayd.log()
