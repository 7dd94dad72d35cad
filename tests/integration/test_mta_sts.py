"""test_mta_sts.py -- outbound TLS under MTA-STS (RFC 8461) and its TLS report counts (RFC 8460).

Everything on loopback: dnsmasq serves the recipient domain's MX records, the `_mta-sts` TXT
record and the address of mta-sts.<domain>; an HTTPS server (Debian's Python http.server with
ssl) serves the policy with a certificate from a test CA made here with openssl, which is also
relayd's `[delivery] ca_file`; aiosmtpd receivers offer STARTTLS with certificates from the same
CA. relayd's `mta_sts_port` points at the HTTPS server's port, as `[delivery] port` points at
the receivers'.

What a user would notice: under an enforced policy mail goes only to the policy's MX hosts, only
over TLS with a certificate valid for the MX name, and otherwise waits in the queue with the
reason (never plaintext); in testing mode it is delivered as before and the failure is counted in
`relayctl tls-report`; a new TXT id brings the new policy; a policy server that cannot be reached
leaves the cached policy in force (also after a restart) or, without one, no policy. A proxy
that strips STARTTLS from the EHLO reply reads the mail of an opportunistic destination, but not
that of an MTA-STS one.
"""
import asyncio
import http.server
import json
import re
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest

from delivery_support import (SENDER, SENDER_BOX, Dnsmasq, ReceiverLoop, message_bytes,
                              network_fixture, parse_dsn, submit, wait_attempted, wait_gone)
from helpers import wait_until

DOMAIN = "sts.test"
MX = "mx.sts.test"


@pytest.fixture
def net(tmp_path, relayd_factory):
    yield from network_fixture(tmp_path, relayd_factory)


# ---------------------------------------------------------------------------------------------
# A test CA and the certificates it signs

class CertificateAuthority:
    def __init__(self, folder):
        self.folder = Path(folder)
        self.cert = self.folder / "ca.crt"
        self.key = self.folder / "ca.key"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
                        "/CN=relay test CA", "-addext", "basicConstraints=critical,CA:TRUE",
                        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                        "-keyout", str(self.key), "-out", str(self.cert)],
                       check=True, capture_output=True)

    def issue(self, name):
        """A certificate for host `name`, signed by the CA: (certificate path, key path)."""
        key = self.folder / f"{name}.key"
        request = self.folder / f"{name}.csr"
        cert = self.folder / f"{name}.crt"
        extensions = self.folder / f"{name}.ext"
        extensions.write_text(f"subjectAltName=DNS:{name}\nbasicConstraints=CA:FALSE\n"
                              "extendedKeyUsage=serverAuth\n")
        subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-subj", f"/CN={name}",
                        "-keyout", str(key), "-out", str(request)],
                       check=True, capture_output=True)
        subprocess.run(["openssl", "x509", "-req", "-in", str(request), "-CA", str(self.cert),
                        "-CAkey", str(self.key), "-CAcreateserial", "-days", "2",
                        "-extfile", str(extensions), "-out", str(cert)],
                       check=True, capture_output=True)
        return cert, key


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return CertificateAuthority(tmp_path_factory.mktemp("ca"))


# ---------------------------------------------------------------------------------------------
# The policy server

class PolicyServer:
    """https://mta-sts.<domain>:PORT/.well-known/mta-sts.txt on ADDRESS, serving `policy`."""

    def __init__(self, address, port, cert, key, policy):
        self.policy = policy
        self.requests = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 -- http.server's name
                server.requests += 1
                if self.path != "/.well-known/mta-sts.txt":
                    self.send_error(404)
                    return
                body = server.policy.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *arguments):
                pass

        self.httpd = http.server.ThreadingHTTPServer((address, port), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert), str(key))
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def policy_text(mode, mx, max_age=86400):
    lines = ["version: STSv1", f"mode: {mode}"] + [f"mx: {host}" for host in mx]
    return "\r\n".join(lines + [f"max_age: {max_age}"]) + "\r\n"


class StsSite:
    """One test's MTA-STS world: DNS, the policy server and relayd's settings for both."""

    POLICY_ADDRESS = "127.0.0.20"

    def __init__(self, net, ca, *, mode="enforce", mx_patterns=(MX,), mx=((MX, "127.0.0.2"),),
                 txt_id="1", serve=True):
        self.net = net
        self.ca = ca
        self.mx = list(mx)
        self.txt_id = txt_id
        self.hosts_extra = []  # A records of other domains' MX hosts
        self.server = None
        if serve:
            cert, key = ca.issue(f"mta-sts.{DOMAIN}")
            self.server = PolicyServer(self.POLICY_ADDRESS, net.port, cert, key,
                                       policy_text(mode, mx_patterns))
        self.dns = None
        self.start_dns()

    def records(self):
        mx = [(DOMAIN, host, 10 * (index + 1)) for index, (host, _) in enumerate(self.mx)]
        mx.append(("plain.test", "mx.plain.test", 10))
        hosts = [(host, address) for host, address in self.mx]
        hosts += [(f"mta-sts.{DOMAIN}", self.POLICY_ADDRESS), *self.hosts_extra]
        txt = [(f"_mta-sts.{DOMAIN}", [f"v=STSv1; id={self.txt_id}"])] if self.txt_id else []
        return mx, hosts, txt

    def start_dns(self, port=None):
        mx, hosts, txt = self.records()
        mx = [("sender.test", "mx.sender.test", 10), *mx]
        hosts = [("mx.sender.test", "127.0.0.9"), *hosts]
        # TTL 1 s: each new message looks the records up again (relayd's dns_ttl_s_min is 0).
        self.dns = Dnsmasq(self.net.folder, mx, hosts, ttl=1, txt=txt, port=port)
        self.net.dns = self.dns

    def change_txt_id(self, txt_id):
        """Serves a new TXT id from a DNS server on the same port (relayd keeps its resolver)."""
        port = self.dns.port
        self.dns.stop()
        self.txt_id = txt_id
        self.start_dns(port)

    def relayd(self, extra="", **options):
        settings = (f"dns_ttl_s_min = 0\nmta_sts_port = {self.net.port}\n"
                    f"mta_sts_fetch_timeout_s = 3\n{extra}")
        return self.net.relayd(ca_file=str(self.ca.cert), extra=settings, **options)

    def close(self):
        if self.server is not None:
            self.server.stop()
            self.server = None


@pytest.fixture
def site_factory(net, ca):
    sites = []

    def make(**options):
        site = StsSite(net, ca, **options)
        sites.append(site)
        return site

    yield make
    for site in sites:
        site.close()


def tls_receiver(net, ca, address, name, **options):
    cert, key = ca.issue(name)
    return net.receiver(address, hostname=name, cert=cert, key=key, **options)


def tls_report(relayd, domain=DOMAIN):
    result = relayd.ctl("tls-report", "--domain", domain, "--json")
    reports = json.loads(result.stdout)
    return reports


def failures(relayd, domain=DOMAIN):
    """{result type: sessions} of the domain's TLS report (all days), once relayd flushed."""
    counted = {}
    for report in tls_report(relayd, domain):
        for policy in report["policies"]:
            for detail in policy["failure-details"]:
                counted[detail["result-type"]] = (counted.get(detail["result-type"], 0) +
                                                  detail["failed-session-count"])
    return counted


def successes(relayd, domain=DOMAIN):
    return sum(policy["summary"]["total-successful-session-count"]
               for report in tls_report(relayd, domain) for policy in report["policies"])


def delivery_line(relayd, queue_id):
    """The message's status=sent log line (workers write their log lines a moment later)."""
    def line():
        for text in relayd.log().splitlines():
            if f"{queue_id}: to=" in text and "status=sent" in text:
                return text
        return None
    return wait_until(line, timeout=5, message=f"{queue_id}'s delivery line")


# ---------------------------------------------------------------------------------------------
# Enforce

def test_enforced_policy_delivers_over_verified_tls(net, ca, site_factory):
    site = site_factory(mode="enforce")
    receiver = tls_receiver(net, ca, "127.0.0.2", MX, starttls="ok")
    relayd = site.relayd()
    queue_id = submit(relayd, SENDER, [f"user@{DOMAIN}"], message_bytes("enforced"))
    [received] = receiver.wait_for(1)
    assert received.tls, "an enforced policy delivers over TLS only"
    trace = received.data.split(b"\r\n\r\n", 1)[0]
    assert b"(outbound TLS policy mta-sts-enforce, certificate verified)" in trace, trace
    wait_gone(relayd, queue_id)
    line = delivery_line(relayd, queue_id)
    assert line is not None and "tls=mta-sts-enforce/verified" in line, line
    assert "MTA-STS policy of sts.test (id 1): mode enforce" in relayd.log()
    wait_until(lambda: successes(relayd) == 1, timeout=10, message="one successful session")
    [report] = tls_report(relayd)
    [policy] = report["policies"]
    assert policy["policy"]["policy-type"] == "sts"
    assert policy["policy"]["policy-domain"] == DOMAIN
    assert policy["policy"]["mx-host"] == [MX]
    assert policy["policy"]["policy-string"] == ["version: STSv1", "mode: enforce", f"mx: {MX}",
                                                 "max_age: 86400"]
    assert policy["summary"] == {"total-successful-session-count": 1,
                                 "total-failure-session-count": 0}
    assert policy["failure-details"] == []
    assert report["date-range"]["start-datetime"].endswith("T00:00:00Z")


def test_enforced_policy_never_sends_in_plaintext_to_an_mx_without_starttls(net, ca,
                                                                             site_factory):
    site = site_factory(mode="enforce")
    receiver = net.receiver("127.0.0.2", hostname=MX)  # no STARTTLS
    relayd = site.relayd(retry="[3600]")
    queue_id = submit(relayd, SENDER, [f"user@{DOMAIN}"], message_bytes("no starttls"))
    entry = wait_attempted(relayd, queue_id, timeout=10)
    assert "MTA-STS policy of sts.test (enforce) not met" in entry["last_error"], entry
    assert "STARTTLS" in entry["last_error"], entry
    assert [r["status"] for r in entry["recipients"]] == ["pending"]
    assert receiver.received == [], "nothing may go out in plaintext"
    wait_until(lambda: failures(relayd).get("starttls-not-supported") == 1, timeout=10,
               message="starttls-not-supported counted")


def test_mail_held_by_the_policy_bounces_at_the_maximum_age_naming_the_policy(net, ca,
                                                                              site_factory):
    # The MX never offers STARTTLS: each retry is deferred by the policy, none goes out in
    # plaintext, and when the maximum age (6 s here) passes the sender gets a DSN that says so.
    site = site_factory(mode="enforce")
    receiver = net.receiver("127.0.0.2", hostname=MX)  # no STARTTLS
    sender_box = net.receiver(SENDER_BOX, hostname="mx.sender.test")
    relayd = site.relayd(retry="[2]", extra="maximum_age_s = 6")
    queue_id = submit(relayd, SENDER, [f"user@{DOMAIN}"], message_bytes("held"))
    entry = wait_attempted(relayd, queue_id, attempts=2, timeout=10)
    assert entry["last_error"].startswith("4.7.4 MTA-STS policy of sts.test (enforce) not met: "
                                          "STARTTLS not offered"), entry["last_error"]
    [dsn] = sender_box.wait_for(1, timeout=15, what="the DSN")
    wait_gone(relayd, queue_id)
    assert receiver.received == [], "nothing may go out in plaintext, not even at the end"
    message, _, [recipient], _ = parse_dsn(dsn.data)
    assert recipient["final-recipient"] == f"rfc822; user@{DOMAIN}"
    assert recipient["action"] == "failed"
    assert recipient["status"] == "5.7.4", recipient
    text = message.get_payload()[0].get_payload(decode=True).decode()
    text = " ".join(text.split())
    assert "4.7.4 message expired after 6 seconds in the queue" in text, text
    assert "MTA-STS policy of sts.test (enforce) not met: STARTTLS not offered" in text, text
    bounced = wait_until(lambda: next((line for line in relayd.log().splitlines()
                                       if f"{queue_id}: to=" in line and "status=bounced" in line),
                                      None), timeout=5, message="the bounce's log line")
    assert "554 4.7.4 message expired" in bounced, bounced
    attempts = entry["attempts"]
    wait_until(lambda: failures(relayd).get("starttls-not-supported", 0) >= attempts,
               timeout=10, message="every refused session counted for TLS reporting")
    assert successes(relayd) == 0


def test_enforced_policy_defers_on_a_certificate_for_another_name(net, ca, site_factory):
    site = site_factory(mode="enforce")
    receiver = tls_receiver(net, ca, "127.0.0.2", "other.sts.test", starttls="ok")
    relayd = site.relayd(retry="[3600]")
    queue_id = submit(relayd, SENDER, [f"user@{DOMAIN}"], message_bytes("mismatch"))
    entry = wait_attempted(relayd, queue_id, timeout=10)
    assert "not met" in entry["last_error"] and "mismatch" in entry["last_error"], entry
    assert receiver.received == []
    wait_until(lambda: failures(relayd).get("certificate-host-mismatch") == 1, timeout=10,
               message="certificate-host-mismatch counted")


def test_enforced_policy_uses_only_the_mx_hosts_it_names(net, ca, site_factory):
    # The preferred MX (10) is not in the policy; only mx2 (20) is.
    site = site_factory(mode="enforce", mx_patterns=("*.good.sts.test",),
                        mx=(("evil.sts.test", "127.0.0.3"), ("mx2.good.sts.test", "127.0.0.2")))
    good = tls_receiver(net, ca, "127.0.0.2", "mx2.good.sts.test", starttls="ok")
    evil = tls_receiver(net, ca, "127.0.0.3", "evil.sts.test", starttls="ok")
    relayd = site.relayd()
    queue_id = submit(relayd, SENDER, [f"user@{DOMAIN}"], message_bytes("patterns"))
    [received] = good.wait_for(1)
    assert received.tls
    wait_gone(relayd, queue_id)
    assert evil.connections == 0, "an MX outside the policy must not even be contacted"


def test_an_mx_list_outside_the_policy_defers(net, ca, site_factory):
    site = site_factory(mode="enforce", mx_patterns=("mx.elsewhere.test",))
    receiver = tls_receiver(net, ca, "127.0.0.2", MX, starttls="ok")
    relayd = site.relayd(retry="[3600]")
    queue_id = submit(relayd, SENDER, [f"user@{DOMAIN}"], message_bytes("no mx allowed"))
    entry = wait_attempted(relayd, queue_id, timeout=10)
    assert "names none of its MX hosts" in entry["last_error"], entry
    assert receiver.connections == 0


# ---------------------------------------------------------------------------------------------
# Testing mode, policy changes, unreachable policy servers

def test_testing_mode_delivers_and_counts_the_failure(net, ca, site_factory):
    site = site_factory(mode="testing")
    receiver = net.receiver("127.0.0.2", hostname=MX)  # no STARTTLS
    relayd = site.relayd()
    queue_id = submit(relayd, SENDER, [f"user@{DOMAIN}"], message_bytes("testing"))
    [received] = receiver.wait_for(1)
    assert not received.tls
    wait_gone(relayd, queue_id)
    assert "tls=mta-sts-testing/plaintext" in delivery_line(relayd, queue_id)
    wait_until(lambda: failures(relayd).get("starttls-not-supported") == 1, timeout=10,
               message="the testing-mode failure counted")
    text = relayd.ctl("tls-report", "--domain", DOMAIN).stdout
    assert re.search(r"sts\.test \(sts\): 0 successful, 1 failed", text), text
    assert re.search(r"starttls-not-supported\s+mx\.sts\.test\s+1", text), text


def test_a_new_txt_id_brings_the_new_policy(net, ca, site_factory):
    site = site_factory(mode="testing", txt_id="1")
    receiver = net.receiver("127.0.0.2", hostname=MX)  # no STARTTLS
    relayd = site.relayd(retry="[3600]")
    first = submit(relayd, SENDER, [f"user@{DOMAIN}"], message_bytes("policy 1"))
    receiver.wait_for(1)
    wait_gone(relayd, first)
    assert site.server.requests == 1
    # Same id: the cached policy serves; no fetch.
    time.sleep(1.5)  # the route (TTL 1 s) expires: the next message looks the TXT up again
    second = submit(relayd, SENDER, [f"user@{DOMAIN}"], message_bytes("policy 1 again"))
    receiver.wait_for(2)
    wait_gone(relayd, second)
    assert site.server.requests == 1
    site.server.policy = policy_text("enforce", [MX])
    site.change_txt_id("2")
    time.sleep(1.5)
    third = submit(relayd, SENDER, [f"user@{DOMAIN}"], message_bytes("policy 2"))
    entry = wait_attempted(relayd, third, timeout=10)
    assert site.server.requests == 2
    assert "MTA-STS policy of sts.test (id 2): mode enforce" in relayd.log()
    assert "not met" in entry["last_error"], entry
    assert len(receiver.received) == 2, "the enforced policy sends nothing in plaintext"


def test_a_policy_is_refreshed_before_it_expires_and_stays_in_force(net, ca, site_factory):
    # max_age 8 s: relayd fetches the policy again in the background at half of it, with no
    # mail to send. Once the first fetch's max_age has passed, with the policy server gone and
    # an MX that no longer offers STARTTLS, the refreshed policy still keeps the mail from
    # going out in plaintext.
    site = site_factory(mode="enforce")
    site.server.policy = policy_text("enforce", [MX], max_age=8)
    receiver = tls_receiver(net, ca, "127.0.0.2", MX, starttls="ok")
    relayd = site.relayd(retry="[3600]")
    first = submit(relayd, SENDER, [f"user@{DOMAIN}"], message_bytes("before the refresh"))
    receiver.wait_for(1)
    first_expires = time.monotonic() + 8  # the first fetch came before the delivery
    wait_gone(relayd, first)
    assert site.server.requests == 1
    wait_until(lambda: site.server.requests >= 2, timeout=8, message="a refresh without mail")
    wait_until(lambda: "MTA-STS policy of sts.test (id 1) refreshed: mode enforce" in relayd.log(),
               timeout=5, message="the refresh logged")
    site.close()
    receiver.stop()
    plain = net.receiver("127.0.0.2", hostname=MX)  # no STARTTLS
    time.sleep(max(0.0, first_expires + 0.5 - time.monotonic()))
    second = submit(relayd, SENDER, [f"user@{DOMAIN}"], message_bytes("after the first max_age"))
    entry = wait_attempted(relayd, second, timeout=10)
    assert "MTA-STS policy of sts.test (enforce) not met" in entry["last_error"], entry
    assert plain.received == [], "the refreshed policy is in force: no plaintext"
    wait_until(lambda: "refresh: " in relayd.log(), timeout=8,
               message="the failed refresh logged for the operator (RFC 8461 §5.1)")


def test_unreachable_policy_server_without_a_cached_policy_means_no_policy(net, ca,
                                                                          site_factory):
    site = site_factory(mode="enforce", serve=False)  # TXT says there is one; no server
    receiver = net.receiver("127.0.0.2", hostname=MX)  # no STARTTLS
    relayd = site.relayd()
    queue_id = submit(relayd, SENDER, [f"user@{DOMAIN}"], message_bytes("no server"))
    [received] = receiver.wait_for(1)
    assert not received.tls
    wait_gone(relayd, queue_id)
    assert "tls=opportunistic/plaintext" in delivery_line(relayd, queue_id)
    wait_until(lambda: failures(relayd).get("sts-policy-fetch-error", 0) >= 1, timeout=10,
               message="sts-policy-fetch-error counted")


def test_cached_policy_stays_in_force_across_a_restart_and_an_unreachable_server(
        net, ca, site_factory):
    site = site_factory(mode="enforce")
    receiver = tls_receiver(net, ca, "127.0.0.2", MX, starttls="ok")
    relayd = site.relayd(retry="[3600]")
    first = submit(relayd, SENDER, [f"user@{DOMAIN}"], message_bytes("cached"))
    receiver.wait_for(1)
    wait_gone(relayd, first)
    assert relayd.stop() == 0
    assert "sts.test 1" in (relayd.spool / "mta-sts-policies").read_text()
    # The policy server goes away, the TXT id changes (a refetch is due and fails), and the
    # MX stops offering STARTTLS: the cached enforce policy must still hold.
    site.close()
    receiver.stop()
    plain = net.receiver("127.0.0.2", hostname=MX)
    site.change_txt_id("2")
    relayd.start()
    second = submit(relayd, SENDER, [f"user@{DOMAIN}"], message_bytes("cached policy holds"))
    entry = wait_attempted(relayd, second, timeout=15)
    assert "not met" in entry["last_error"], entry
    assert plain.received == []
    assert "the cached policy stays in force" in relayd.log()


# ---------------------------------------------------------------------------------------------
# An attacker on the path strips STARTTLS

class StripStarttls:
    """A TCP proxy on ADDRESS:PORT to TARGET:PORT that removes STARTTLS from EHLO replies."""

    def __init__(self, address, target, port):
        self.loop = ReceiverLoop.get()
        self.target = (target, port)
        self.stripped = 0

        async def listen():
            return await asyncio.start_server(self._client, address, port, reuse_address=True)
        self.server = self.loop.run(listen())

    async def _client(self, client_reader, client_writer):
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.close()
            return

        async def upstream():
            while data := await client_reader.read(65536):
                server_writer.write(data)
            server_writer.close()

        async def downstream():
            while line := await server_reader.readline():
                if re.match(rb"^250[ -]STARTTLS", line, re.I):
                    self.stripped += 1
                    continue
                client_writer.write(line)
            client_writer.close()

        await asyncio.gather(upstream(), downstream(), return_exceptions=True)

    def stop(self):
        async def close():
            self.server.close()
        self.loop.run(close())


def test_stripped_starttls_is_refused_under_mta_sts_and_read_under_opportunistic(net, ca,
                                                                                  site_factory):
    # Both domains' MX point at the attacker's proxy (127.0.0.5), which forwards to the real
    # receivers (127.0.0.2 for sts.test, 127.0.0.6 for plain.test).
    site = site_factory(mode="enforce", mx=((MX, "127.0.0.5"),))
    site.dns.stop()
    site.hosts_extra.append(("mx.plain.test", "127.0.0.7"))
    site.start_dns()
    receiver = tls_receiver(net, ca, "127.0.0.2", MX, starttls="ok")
    plain = tls_receiver(net, ca, "127.0.0.6", "mx.plain.test", starttls="ok")
    proxy = StripStarttls("127.0.0.5", "127.0.0.2", net.port)
    plain_proxy = StripStarttls("127.0.0.7", "127.0.0.6", net.port)
    try:
        relayd = site.relayd(retry="[3600]")
        sts_id = submit(relayd, SENDER, [f"user@{DOMAIN}"], message_bytes("protected"))
        plain_id = submit(relayd, SENDER, ["user@plain.test"], message_bytes("exposed"))
        [exposed] = plain.wait_for(1)
        assert not exposed.tls and plain_proxy.stripped >= 1, "the attack works when unprotected"
        wait_gone(relayd, plain_id)
        entry = wait_attempted(relayd, sts_id, timeout=10)
        assert proxy.stripped >= 1
        assert "not met" in entry["last_error"] and "STARTTLS" in entry["last_error"], entry
        assert receiver.received == [], "the MTA-STS destination is never sent in plaintext"
    finally:
        proxy.stop()
        plain_proxy.stop()


# ---------------------------------------------------------------------------------------------
# Configuration

def test_a_shaping_rule_can_turn_mta_sts_off_for_a_domain(net, ca, site_factory):
    site = site_factory(mode="enforce")
    receiver = net.receiver("127.0.0.2", hostname=MX)  # no STARTTLS
    relayd = site.relayd(extra=f'\n[[shaping]]\ndomain = "{DOMAIN}"\nmta_sts = false\n')
    queue_id = submit(relayd, SENDER, [f"user@{DOMAIN}"], message_bytes("checks off"))
    receiver.wait_for(1)
    wait_gone(relayd, queue_id)
    assert site.server.requests == 0
    assert "tls=opportunistic/plaintext" in delivery_line(relayd, queue_id)


def test_tls_mta_sts_demands_a_policy(net, ca, site_factory):
    site = site_factory(txt_id=None)  # no TXT record: no policy
    receiver = tls_receiver(net, ca, "127.0.0.2", MX, starttls="ok")
    relayd = site.relayd(retry="[3600]",
                         extra=f'\n[[shaping]]\ndomain = "{DOMAIN}"\ntls = "mta-sts"\n')
    queue_id = submit(relayd, SENDER, [f"user@{DOMAIN}"], message_bytes("demanded"))
    entry = wait_attempted(relayd, queue_id, timeout=10)
    assert "publishes no MTA-STS policy" in entry["last_error"], entry
    assert receiver.connections == 0
