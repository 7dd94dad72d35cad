"""DKIM signing end to end: messages submitted to relayd by an authenticated resource reach a
receiving aiosmtpd with one DKIM-Signature per key of the From domain, and each verifies with
Debian's python3-dkim, for rsa-sha256 and ed25519-sha256 under relaxed/relaxed and simple/simple
(four keys, four signatures on every message): a message with 8-bit UTF-8 sent with DATA, one
sent with BDAT whose chunk holds CRLF.CRLF, one with 1,000 header fields. A one-byte change of
the delivered body makes every signature fail; a domain without a key is sent unsigned and said
once in the log; keys removed while relayd runs stop signing from the next tenants
generation on. A message without Message-ID arrives with one (<QUEUEID.RANDOM@HOST>) that
every signature covers. With [dkim] signed_headers and expiration_s set, h= is that list (To left
out, a header of the sender's own in) and x= is t= plus the lifetime, and the signatures verify,
also when they are set by SIGHUP while relayd runs. The public keys are the DNS records
`relayctl dkim list --json` prints, served by dnsmasq (`--txt-record`, authoritative for
"example" on loopback) and read by python3-dkim through a dnsfunc that asks that server over
TCP."""
import base64
import json
import re
import signal

import dkim
import dns.message
import dns.query
import pytest

from delivery_support import Dnsmasq, delivery_settings, network_fixture, wait_ready
from helpers import SmtpClient, queue_id_of, stuff, wait_until

FAST_HASHES = """
[credentials]
argon2_memory_kib = 256
argon2_iterations = 1
"""
AUTH_LISTENER = 'auth = "required"\nauth_plaintext = true\nclients = ["127.0.0.0/8"]\n'
KEYS = [("rsar", "rsa-2048", "relaxed"), ("rsas", "rsa-2048", "simple"),
        ("edr", "ed25519", "relaxed"), ("eds", "ed25519", "simple")]


@pytest.fixture
def net(tmp_path, relayd_factory):
    yield from network_fixture(tmp_path, relayd_factory)


@pytest.fixture
def signing(net):
    """relayd delivering example.net to an aiosmtpd on 127.0.0.2; resource acme/main with
    acme.example (four keys) and plain.example (none)."""
    return start_signing(net)


# Signs From, Subject and a header of the sender's own, not To; signatures last an hour.
DKIM_SETTINGS = """
[dkim]
signed_headers = ["Subject", "FROM", "X-Campaign"]
expiration_s = 3600
"""


@pytest.fixture
def signing_configured(net):
    """As `signing`, with DKIM_SETTINGS."""
    return start_signing(net, DKIM_SETTINGS)


def start_signing(net, extra_settings=""):
    receiver = net.receiver("127.0.0.2")
    settings = delivery_settings(None, net.port, routes=[("example.net",
                                                          f"127.0.0.2:{net.port}")])
    relayd = net.factory(settings=settings + FAST_HASHES + extra_settings,
                         listener=AUTH_LISTENER, start=False)
    relayd.settings_text = settings + FAST_HASHES + extra_settings  # for a reload
    relayd.ctl("project", "add", "acme")
    added = relayd.ctl("resource", "add", "acme/main").stdout
    relayd.password = re.search(r"password: (\S+)", added).group(1)
    relayd.ctl("domain", "add", "acme/main", "acme.example")
    relayd.ctl("domain", "add", "acme/main", "plain.example")
    for selector, algorithm, canon in KEYS:
        relayd.ctl("dkim", "generate", "acme.example", "--selector", selector, "--algo",
                   algorithm, "--canonicalization", canon)
    txt = []
    for key in json.loads(relayd.ctl("dkim", "list", "--json").stdout):
        owner, text = key["dns_record"].split(" IN TXT ", 1)
        txt.append((owner.rstrip("."), re.findall(r'"([^"]*)"', text)))
    server = Dnsmasq(net.folder, zone="example", txt=txt)
    net.dns = server  # stopped with the network
    relayd.start()
    wait_ready(relayd)
    return relayd, receiver, server


def dnsfunc_of(server):
    def lookup(name, timeout=5):
        query = dns.message.make_query(name.decode().rstrip("."), "TXT")
        answer = dns.query.tcp(query, "127.0.0.1", port=server.port, timeout=timeout)
        return b"".join(b"".join(record.strings) for rrset in answer.answer
                        for record in rrset) or None
    return lookup


def logged_in(relayd, sender):
    client = SmtpClient(relayd.port)
    client.ehlo()
    token = base64.b64encode(f"\0acme/main\0{relayd.password}".encode()).decode()
    client.expect(f"AUTH PLAIN {token}", 235)
    client.expect(f"MAIL FROM:<{sender}> BODY=8BITMIME", 250)
    client.expect("RCPT TO:<rcpt@example.net>", 250)
    return client


def send_data(relayd, message, sender="ann@acme.example"):
    with logged_in(relayd, sender) as client:
        reply = client.data(stuff(message))
        assert reply.code == 250, reply
        return queue_id_of(reply)


def send_bdat(relayd, chunks, sender="ann@acme.example"):
    with logged_in(relayd, sender) as client:
        for index, chunk in enumerate(chunks):
            last = " LAST" if index == len(chunks) - 1 else ""
            client.send(f"BDAT {len(chunk)}{last}\r\n".encode() + chunk)
            reply = client.reply()
            assert reply.code == 250, reply
        return queue_id_of(reply)


def message(subject, body, domain="acme.example", extra=""):
    header = (f"From: Ann <ann@{domain}>\r\nTo: <rcpt@example.net>\r\nSubject: {subject}\r\n"
              "Date: Tue, 01 Dec 2026 17:00:00 +0000\r\n"
              f"Message-ID: <{subject.replace(' ', '.')}@{domain}>\r\nMIME-Version: 1.0\r\n"
              "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
              + extra + "\r\n")
    return header.encode() + body


UTF8_BODY = ("Grüße  aus\t\tKöln \t\r\n.a dotted line\r\n\r\n終わり  \r\n\r\n\r\n").encode()


def received_one(receiver, subject):
    wait_until(lambda: any(f"Subject: {subject}".encode() in item.data
                           for item in receiver.received), timeout=15,
               message=f"the message {subject!r} delivered")
    return [item.data for item in receiver.received
            if f"Subject: {subject}".encode() in item.data][0]


def signatures_of(data):
    header = data.split(b"\r\n\r\n", 1)[0]
    return re.findall(rb"^DKIM-Signature:.*?(?=^\S)", header + b"\r\nX", re.M | re.S)


def verify_each(data, key_server):
    """[(a=, c=, verified)] for every signature, top first."""
    results = []
    for index, field in enumerate(signatures_of(data)):
        tags = dict(re.findall(rb"\b([a-z]+)=([^;]*)", re.sub(rb"\s+", b"", field)))
        try:
            verified = dkim.DKIM(data).verify(idx=index, dnsfunc=dnsfunc_of(key_server))
        except dkim.ValidationError:  # python3-dkim raises on a body hash mismatch
            verified = False
        results.append((tags[b"a"].decode(), tags[b"c"].decode(), verified))
    return sorted(results)


ALL_VERIFIED = sorted([("rsa-sha256", "relaxed/relaxed", True),
                       ("rsa-sha256", "simple/simple", True),
                       ("ed25519-sha256", "relaxed/relaxed", True),
                       ("ed25519-sha256", "simple/simple", True)])


def test_utf8_message_with_data_verifies_for_both_algorithms_and_canonicalizations(signing):
    relayd, receiver, key_server = signing
    send_data(relayd, message("utf8 data", UTF8_BODY))
    data = received_one(receiver, "utf8 data")
    assert verify_each(data, key_server) == ALL_VERIFIED
    # the stored message is not rewritten: the signatures are prepended to it
    assert data.endswith(message("utf8 data", UTF8_BODY))


def test_bdat_with_crlf_dot_crlf_inside_a_chunk_verifies(signing):
    relayd, receiver, key_server = signing
    body = UTF8_BODY + b"before\r\n.\r\nafter\r\nlast line without CRLF  "
    whole = message("bdat chunks", body)
    cut = whole.index(b"before") + 3
    send_bdat(relayd, [whole[:cut], whole[cut:]])
    assert verify_each(received_one(receiver, "bdat chunks"), key_server) == ALL_VERIFIED


def test_a_thousand_header_fields_verify(signing):
    relayd, receiver, key_server = signing
    extra = "".join(f"X-Field-{index}: value {index}\r\n" for index in range(992))
    send_data(relayd, message("many fields", b"Body.\r\n", extra=extra))
    data = received_one(receiver, "many fields")
    assert data.split(b"\r\n\r\n", 1)[0].count(b"\r\nX-Field-") == 992
    assert verify_each(data, key_server) == ALL_VERIFIED


def test_a_one_byte_change_of_the_body_fails_every_signature(signing):
    relayd, receiver, key_server = signing
    send_data(relayd, message("tampered", b"Pay 100 EUR.\r\n"))
    data = received_one(receiver, "tampered")
    assert verify_each(data, key_server) == ALL_VERIFIED
    changed = data.replace(b"Pay 100 EUR.", b"Pay 900 EUR.")
    assert [verified for *_, verified in verify_each(changed, key_server)] == [False] * 4


def test_a_message_without_message_id_gets_one_and_it_is_signed(signing):
    relayd, receiver, key_server = signing
    without = message("no id", b"Body.\r\n").replace(b"Message-ID: <no.id@acme.example>\r\n", b"")
    assert b"Message-ID" not in without
    queue_id = send_data(relayd, without)
    data = received_one(receiver, "no id")
    header = data.split(b"\r\n\r\n", 1)[0]
    ids = re.findall(rb"^Message-ID: (.*)\r$", header, re.M)
    assert len(ids) == 1, header
    assert re.fullmatch(rf"<{queue_id}\.[0-9a-f]{{16}}@[^>@]+>".encode(), ids[0]), ids[0]
    assert data.endswith(without)  # prepended, the stored message unchanged
    for field in signatures_of(data):
        signed = re.search(rb"h=([^;]*)", re.sub(rb"\s+", b"", field)).group(1).lower()
        assert b"message-id" in signed.split(b":")
    assert verify_each(data, key_server) == ALL_VERIFIED
    changed = data.replace(ids[0], ids[0].replace(b"<", b"<x", 1))
    assert [verified for *_, verified in verify_each(changed, key_server)] == [False] * 4
    # A message that has one keeps it, and gets no second.
    send_data(relayd, message("has id", b"Body.\r\n"))
    kept = received_one(receiver, "has id").split(b"\r\n\r\n", 1)[0]
    assert re.findall(rb"^Message-ID: (.*)\r$", kept, re.M) == [b"<has.id@acme.example>"]


def test_a_domain_without_a_key_is_sent_unsigned_and_said_once(signing):
    relayd, receiver, key_server = signing
    for index in range(3):
        send_data(relayd, message(f"unsigned {index}", b"Hi.\r\n", domain="plain.example"),
                  sender="ann@plain.example")
    for index in range(3):
        assert signatures_of(received_one(receiver, f"unsigned {index}")) == []
    said = "dkim: mail from plain.example is sent unsigned: the domain has no DKIM key"
    wait_until(lambda: said in relayd.log(), message="the unsigned domain in the log")
    # once per worker (two workers here), not once per message
    assert 1 <= relayd.log().count(said) <= 2, relayd.log()


def test_keys_changed_while_relayd_runs_apply_to_the_next_messages(signing):
    relayd, receiver, key_server = signing
    for selector in ("rsar", "rsas", "eds"):
        relayd.ctl("dkim", "remove", "acme.example", selector)
    # the snapshot follows the store within store.refresh_interval_ms (1 s by default)
    wait_until(lambda: re.search(r"generation \d+: .* 1 DKIM keys", relayd.log()), timeout=5,
               message="the generation with one key in the log")
    send_data(relayd, message("one key left", b"Hi.\r\n"))
    data = received_one(receiver, "one key left")
    assert verify_each(data, key_server) == [("ed25519-sha256", "relaxed/relaxed", True)]
    relayd.ctl("dkim", "remove", "acme.example", "edr")
    wait_until(lambda: re.search(r"generation \d+: .* 0 DKIM keys", relayd.log()), timeout=5,
               message="the generation without keys in the log")
    send_data(relayd, message("no key left", b"Hi.\r\n"))
    assert signatures_of(received_one(receiver, "no key left")) == []


def tags_of(field):
    return {name.decode(): value.decode() for name, value in
            re.findall(rb"\b([a-z]+)=([^;]*)", re.sub(rb"\s+", b"", field))}


def test_configured_header_list_and_expiry_are_signed_and_verify(signing_configured):
    relayd, receiver, key_server = signing_configured
    send_data(relayd, message("configured", b"Hi.\r\n", extra="X-Campaign: spring\r\n"))
    data = received_one(receiver, "configured")
    assert verify_each(data, key_server) == ALL_VERIFIED
    for field in signatures_of(data):
        tags = tags_of(field)
        # in the configured order, From once more than it occurs, To and Date not at all
        assert tags["h"] == "subject:from:from:x-campaign", field
        assert int(tags["x"]) == int(tags["t"]) + 3600, field
    # the sender's own header is covered, To is not
    changed = data.replace(b"X-Campaign: spring", b"X-Campaign: autumn")
    assert [verified for *_, verified in verify_each(changed, key_server)] == [False] * 4
    readdressed = data.replace(b"To: <rcpt@example.net>", b"To: <other@example.net>")
    assert verify_each(readdressed, key_server) == ALL_VERIFIED


def test_signatures_have_no_expiry_by_default(signing):
    relayd, receiver, key_server = signing
    send_data(relayd, message("no expiry", b"Hi.\r\n"))
    for field in signatures_of(received_one(receiver, "no expiry")):
        assert "x" not in tags_of(field) and "to" in tags_of(field)["h"].split(":"), field


def test_a_header_list_set_by_sighup_applies_to_the_next_messages(signing):
    relayd, receiver, key_server = signing
    said = "configuration reloaded"
    relayd.write_config(relayd.settings_text + DKIM_SETTINGS, 2)
    relayd.process.send_signal(signal.SIGHUP)
    wait_until(lambda: said in relayd.log(), timeout=10, message="the reload in the log")
    assert "dkim.signed_headers" in relayd.log() and "dkim.expiration_s" in relayd.log()
    send_data(relayd, message("after reload", b"Hi.\r\n", extra="X-Campaign: spring\r\n"))
    data = received_one(receiver, "after reload")
    assert verify_each(data, key_server) == ALL_VERIFIED
    for field in signatures_of(data):
        tags = tags_of(field)
        assert tags["h"] == "subject:from:from:x-campaign", field
        assert int(tags["x"]) == int(tags["t"]) + 3600, field
