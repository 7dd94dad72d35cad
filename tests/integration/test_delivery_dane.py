"""test_delivery_dane.py -- DANE for SMTP (RFC 7672) against real DNSSEC on loopback.

nsd serves the zone dane.test, signed with ldns-signzone, and plain.test, the same records
unsigned; unbound validates with dane.test's key as its trust anchor (dnssec_support.py). The
MX host mx.<zone> is an aiosmtpd receiver on 127.0.0.2 with a self-signed certificate made here;
its TLSA record is DANE-EE(3) SPKI(1) SHA2-256(1) of that certificate's key, or of another key.
relayd runs with [delivery] dane = true and unbound as its resolver. An attacker on the path
is a proxy that overwrites STARTTLS in the EHLO reply.
"""
import asyncio
import hashlib
import json
import subprocess

import pytest

from delivery_support import (SENDER, ReceiverLoop, make_certificate, message_bytes,
                              network_fixture, submit, wait_attempted, wait_gone)
from dnssec_support import DnssecDns
from helpers import wait_until

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


def wait_logged(relayd, text):
    """The log is written by each worker on its own: a line may follow the outcome closely."""
    wait_until(lambda: text in relayd.log(), timeout=5, message=f"log line {text!r}")


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
    wait_logged(relayd, "tls=dane verified (DANE-EE(3) SPKI(1) SHA2-256(1) matched the leaf)")


def tls_report(relayd, domain):
    """{policy type: (successful sessions, {result type: failed sessions})} for `domain`."""
    counted = {}
    for report in json.loads(relayd.ctl("tls-report", "--domain", domain, "--json").stdout):
        for policy in report["policies"]:
            successful, failed = counted.get(policy["policy"]["policy-type"], (0, {}))
            successful += policy["summary"]["total-successful-session-count"]
            for detail in policy["failure-details"]:
                failed[detail["result-type"]] = (failed.get(detail["result-type"], 0) +
                                                 detail["failed-session-count"])
            counted[policy["policy"]["policy-type"]] = (successful, failed)
    return counted


def test_dane_takes_precedence_even_over_tls_none_and_is_named_and_counted(net, certificates):
    # tls = "none" would send in plaintext; the host's validated TLSA records demand TLS.
    cert, key = certificates["mx.dane.test"]
    start_dns(net, cert)
    receiver = net.receiver(RECEIVER, hostname="mx.dane.test", cert=cert, key=key,
                            starttls="ok")
    relayd = net.relayd(tls="none", retry="[3600]", extra="dane = true")
    queue_id = submit(relayd, SENDER, ["user@dane.test"], message_bytes("precedence"))
    [received] = receiver.wait_for(1)
    assert received.tls, "a DANE host gets TLS even under tls = \"none\""
    trace = received.data.split(b"\r\n\r\n", 1)[0]
    assert b"(outbound TLS policy dane, certificate verified)" in trace, trace
    wait_gone(relayd, queue_id)
    wait_logged(relayd, f"{queue_id}: to=<user@dane.test>")
    [line] = [text for text in relayd.log().splitlines()
              if f"{queue_id}: to=" in text and "status=sent" in text]
    assert "tls=dane/verified" in line, line
    wait_until(lambda: tls_report(relayd, "dane.test").get("tlsa", (0, {}))[0] == 1,
               timeout=10, message="one successful DANE session in the TLS report")
    assert tls_report(relayd, "dane.test") == {"tlsa": (1, {})}


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
    wait_until(lambda: tls_report(relayd, "dane.test").get("tlsa", (0, {}))[1]
               .get("validation-failure", 0) >= 1,
               timeout=10, message="the mismatch counted as a DANE validation-failure")


def test_the_json_report_names_the_tlsa_records_and_the_failures(net, certificates):
    # RFC 8460 §4.4: a DANE session's policy is its host's TLSA records, in presentation form.
    cert, key = certificates["mx.dane.test"]
    stranger = certificates["mx.stranger.test"][0]
    start_dns(net, stranger)
    receiver = net.receiver(RECEIVER, hostname="mx.dane.test", cert=cert, key=key,
                            starttls="ok")
    relayd = dane_relayd(net)
    queue_id = submit(relayd, SENDER, ["user@dane.test"], message_bytes("report"))
    wait_attempted(relayd, queue_id, timeout=10)
    assert receiver.received == []

    def report():
        reports = json.loads(relayd.ctl("tls-report", "--domain", "dane.test", "--json").stdout)
        return reports if reports and reports[0]["policies"][0]["failure-details"] else None
    [report] = wait_until(report, timeout=10, message="the failed DANE session reported")
    assert set(report) == {"organization-name", "date-range", "contact-info", "report-id",
                           "policies"}
    assert set(report["date-range"]) == {"start-datetime", "end-datetime"}
    [entry] = report["policies"]
    record = f"_{net.port}._tcp.mx.dane.test. IN TLSA 3 1 1 {spki_sha256(stranger).upper()}"
    assert entry["policy"] == {"policy-type": "tlsa", "policy-domain": "dane.test",
                               "policy-string": [record], "mx-host": ["mx.dane.test"]}
    assert entry["summary"] == {"total-successful-session-count": 0,
                                "total-failure-session-count": 1}
    assert entry["failure-details"] == [{"result-type": "validation-failure",
                                         "receiving-mx-hostname": "mx.dane.test",
                                         "failed-session-count": 1}]


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
    wait_logged(relayd, "status=sent")  # the connection's lines come before it
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
    wait_logged(relayd, "status=sent")  # the connection's lines come before it
    assert "tls=dane" not in relayd.log()


def make_chain(folder, host):
    """A CA and a certificate for `host` it issued, with the openssl CLI. Returns (chain file:
    the leaf then the CA, key file, CA certificate)."""
    folder.mkdir(parents=True, exist_ok=True)
    run = lambda *arguments: subprocess.run(arguments, check=True, capture_output=True)
    ca_key, ca = folder / "ca.key", folder / "ca.crt"
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-days", "2", "-subj", "/CN=DANE-TA test CA", "-addext",
        "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
        "-keyout", str(ca_key), "-out", str(ca))
    key, request, leaf = folder / "leaf.key", folder / "leaf.csr", folder / "leaf.crt"
    run("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-subj", f"/CN={host}", "-keyout", str(key), "-out", str(request))
    extensions = folder / "leaf.ext"
    extensions.write_text(f"subjectAltName=DNS:{host}\nbasicConstraints=CA:FALSE\n")
    run("openssl", "x509", "-req", "-in", str(request), "-CA", str(ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-days", "2", "-extfile", str(extensions), "-out", str(leaf))
    chain = folder / "chain.crt"
    chain.write_bytes(leaf.read_bytes() + ca.read_bytes())
    return chain, key, ca


def certificate_sha256(certificate):
    """The data of a TLSA 2 0 1 record for `certificate` (PEM)."""
    der = subprocess.run(["openssl", "x509", "-in", str(certificate), "-outform", "DER"],
                         check=True, capture_output=True).stdout
    return hashlib.sha256(der).hexdigest()


@pytest.mark.parametrize("host, delivered", [("mx.dane.test", True), ("other.dane.test", False)])
def test_dane_ta_names_the_ca_above_the_leaf(net, tmp_path, host, delivered):
    # The server sends its certificate and the CA; the TLSA record names the CA (DANE-TA(2)
    # Cert(0) SHA2-256(1)). The chain must lead to it and the leaf must be issued for the MX.
    chain, key, ca = make_chain(tmp_path / "chain", host)
    net.dns = DnssecDns(net.folder, {"dane.test": [
        "@ MX 10 mx", f"mx A {RECEIVER}",
        f"_{net.port}._tcp.mx TLSA 2 0 1 {certificate_sha256(ca)}"]}, signed={"dane.test"})
    receiver = net.receiver(RECEIVER, hostname="mx.dane.test", cert=chain, key=key,
                            starttls="ok")
    relayd = dane_relayd(net)
    queue_id = submit(relayd, SENDER, ["user@dane.test"], message_bytes("dane-ta"))
    if delivered:
        [received] = receiver.wait_for(1)
        assert received.tls
        wait_gone(relayd, queue_id)
        wait_logged(relayd, "tls=dane verified (DANE-TA(2) Cert(0) SHA2-256(1) matched depth 1)")
    else:
        entry = wait_attempted(relayd, queue_id, timeout=10)
        assert "not issued for mx.dane.test" in entry["last_error"], entry["last_error"]
        assert receiver.received == []


def test_a_bogus_signature_keeps_the_host_out(net, certificates):
    # The TLSA record is changed after signing: unbound cannot validate it and answers SERVFAIL.
    # A failed TLSA lookup on a secure path may be an attack: the host is not tried.
    cert, key = certificates["mx.dane.test"]
    dns = start_dns(net, cert)
    dns.stop()
    signed = dns.folder / "dane.test.zone.signed"
    text = signed.read_text()
    digest = spki_sha256(cert)
    assert digest in text
    signed.write_text(text.replace(digest, spki_sha256(certificates["mx.stranger.test"][0])))
    net.dns = DnssecDns.restart(dns)
    rcode, _, _ = net.dns.query(f"_{net.port}._tcp.mx.dane.test", "TLSA")
    assert rcode == "SERVFAIL", "a record that no longer matches its signature must not validate"
    receiver = net.receiver(RECEIVER, hostname="mx.dane.test", cert=cert, key=key,
                            starttls="ok")
    relayd = dane_relayd(net)
    queue_id = submit(relayd, SENDER, ["user@dane.test"], message_bytes("bogus"))
    entry = wait_attempted(relayd, queue_id, timeout=10)
    assert "DANE: DNS lookup of TLSA" in entry["last_error"], entry["last_error"]
    assert receiver.received == []


class StartTlsStripper:
    """An attacker on the path: a TCP proxy on `address`:`port` to the real server on
    `target`:`port` that overwrites STARTTLS in the server's EHLO reply (as such attacks do, with
    as many other octets), and records what the client sent."""

    def __init__(self, address, target, port):
        self.client_bytes = bytearray()
        self.loop = ReceiverLoop.get()
        stripper = self

        class Upstream(asyncio.Protocol):
            def __init__(self, downstream):
                self.downstream = downstream

            def data_received(self, data):
                self.downstream.write(data.replace(b"STARTTLS", b"XXXXXXXA"))

            def connection_lost(self, exc):
                self.downstream.close()

        class Downstream(asyncio.Protocol):
            def connection_made(self, transport):
                self.transport = transport
                self.upstream = None
                self.pending = bytearray()
                asyncio.get_event_loop().create_task(self.connect())

            async def connect(self):
                try:
                    self.upstream, _ = await asyncio.get_event_loop().create_connection(
                        lambda: Upstream(self.transport), target, port)
                except OSError:
                    self.transport.close()
                    return
                self.upstream.write(bytes(self.pending))

            def data_received(self, data):
                stripper.client_bytes += data
                if self.upstream is None:
                    self.pending += data
                else:
                    self.upstream.write(data)

            def connection_lost(self, exc):
                if self.upstream is not None:
                    self.upstream.close()

        self.server = self.loop.run(self.loop.loop.create_server(Downstream, address, port))

    def stop(self):
        async def close():
            self.server.close()
        self.loop.run(close())


def test_stripping_starttls_on_the_path_sends_nothing_in_plaintext(net, certificates):
    # DNS sends relayd to the proxy on 127.0.0.2; the real MX, with STARTTLS and the certificate
    # its TLSA record names, is behind it on 127.0.0.3.
    cert, key = certificates["mx.dane.test"]
    start_dns(net, cert)
    receiver = net.receiver("127.0.0.3", hostname="mx.dane.test", cert=cert, key=key,
                            starttls="ok")
    stripper = StartTlsStripper(RECEIVER, "127.0.0.3", net.port)
    try:
        relayd = dane_relayd(net)
        queue_id = submit(relayd, SENDER, ["user@dane.test"], message_bytes("stripped"))
        entry = wait_attempted(relayd, queue_id, timeout=10)
        error = entry["last_error"]
        assert "DANE: TLS is mandatory for mx.dane.test" in error and "STARTTLS" in error, error
        assert b"EHLO" in stripper.client_bytes, "relayd should have reached the proxy"
        assert b"MAIL FROM" not in stripper.client_bytes, "nothing may go out in plaintext"
        assert receiver.received == []
    finally:
        stripper.stop()


@pytest.mark.parametrize("zone, delivered", [("dane.test", True), ("plain.test", False)])
def test_a_route_with_tls_dane_demands_validated_records(net, certificates, zone, delivered):
    # A static route to mx.ZONE by name; tls = "dane" delivers only with validated TLSA records
    # (dane.test), and keeps the mail where there are none (plain.test, unsigned).
    cert, key = certificates[f"mx.{zone}"]
    start_dns(net, cert)
    receiver = net.receiver(RECEIVER, hostname=f"mx.{zone}", cert=cert, key=key, starttls="ok")
    relayd = dane_relayd(net, routes=[("example.test", f"mx.{zone}:{net.port}",
                                       'tls = "dane"')])
    queue_id = submit(relayd, SENDER, ["user@example.test"], message_bytes("route"))
    if delivered:
        [received] = receiver.wait_for(1)
        assert received.tls
        wait_gone(relayd, queue_id)
        wait_logged(relayd, f"mx.{zone}[{RECEIVER}]:{net.port}: tls=dane verified")
    else:
        entry = wait_attempted(relayd, queue_id, timeout=10)
        assert "DANE is required (tls = \"dane\")" in entry["last_error"], entry["last_error"]
        assert receiver.received == []


@pytest.mark.parametrize("starttls", [True, False])
def test_unusable_records_still_make_tls_mandatory(net, certificates, starttls):
    # PKIX-EE(1) is unusable for SMTP (RFC 7672 §3.1.3), even when it names the right key: the
    # host gets TLS without authentication, and no mail in plaintext (§2.2).
    cert, key = certificates["mx.dane.test"]
    net.dns = DnssecDns(net.folder, {"dane.test": [
        "@ MX 10 mx", f"mx A {RECEIVER}",
        f"_{net.port}._tcp.mx TLSA 1 1 1 {spki_sha256(cert)}"]}, signed={"dane.test"})
    options = dict(cert=cert, key=key, starttls="ok") if starttls else {}
    receiver = net.receiver(RECEIVER, hostname="mx.dane.test", **options)
    relayd = dane_relayd(net)
    queue_id = submit(relayd, SENDER, ["user@dane.test"], message_bytes("unusable"))
    if starttls:
        [received] = receiver.wait_for(1)
        assert received.tls
        wait_gone(relayd, queue_id)
        wait_logged(relayd, "tls=dane encrypted, not authenticated (no usable TLSA record)")
    else:
        entry = wait_attempted(relayd, queue_id, timeout=10)
        assert "DANE: TLS is mandatory for mx.dane.test" in entry["last_error"]
        assert receiver.received == []
