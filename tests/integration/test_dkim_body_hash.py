"""The DKIM body hashes relayd takes while it receives a message: one per canonicalization the
keys of the sender's resource use, kept in the spool record (relayctl queue show --json shows
them), each equal to what Debian's python3-dkim computes over the stored body, for DATA and for
BDAT (a chunk holding CRLF.CRLF, a body without a final CRLF), 8-bit UTF-8 and the whitespace the
relaxed canonicalization rewrites. A resource without keys gets none. Delivery is held: these
tests look at the queue."""
import base64
import hashlib
import json
import re

import dkim.canonicalization as canonicalization
import pytest

from helpers import SmtpClient, queue_id_of, relayd_factory, stuff  # noqa: F401 (fixture)

FAST_HASHES = """
[credentials]
argon2_memory_kib = 256
argon2_iterations = 1
"""
AUTH_LISTENER = 'auth = "required"\nauth_plaintext = true\nclients = ["127.0.0.0/8"]\n'

HEADER = ("From: Ann <ann@acme.example>\r\nTo: <rcpt@example.net>\r\nSubject: body hash\r\n"
          "Date: Tue, 01 Dec 2026 17:00:00 +0000\r\nMessage-ID: <{}@acme.example>\r\n"
          "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
          "Content-Transfer-Encoding: 8bit\r\n\r\n")
# What the relaxed body canonicalization rewrites: runs of SP and HTAB, trailing whitespace,
# trailing empty lines; a line that starts with '.', stuffed on the wire; 8-bit UTF-8.
BODY = ("Grüße  aus\t\tKöln \t\r\n"
        ".a line that starts with a dot\r\n"
        "  leading space kept, trailing dropped   \r\n"
        "\r\n"
        "終わり\r\n"
        "\r\n\r\n\r\n").encode("utf-8")


def setup_tenant(relayd, keys):
    """acme/main with domain acme.example and `keys` [(selector, algo, canonicalization)]."""
    relayd.ctl("project", "add", "acme")
    added = relayd.ctl("resource", "add", "acme/main").stdout
    relayd.password = re.search(r"password: (\S+)", added).group(1)
    relayd.ctl("domain", "add", "acme/main", "acme.example")
    for selector, algorithm, canon in keys:
        relayd.ctl("dkim", "generate", "acme.example", "--selector", selector, "--algo",
                   algorithm, "--canonicalization", canon)
    return relayd.start()


@pytest.fixture
def make(relayd_factory):  # noqa: F811
    def build(keys):
        relayd = relayd_factory(settings=FAST_HASHES, listener=AUTH_LISTENER, start=False)
        return setup_tenant(relayd, keys)
    return build


def logged_in(relayd):
    client = SmtpClient(relayd.port)
    client.ehlo()
    token = base64.b64encode(f"\0acme/main\0{relayd.password}".encode()).decode()
    client.expect(f"AUTH PLAIN {token}", 235)
    client.expect("MAIL FROM:<ann@acme.example> BODY=8BITMIME", 250)
    client.expect("RCPT TO:<rcpt@example.net>", 250)
    return client


def send_data(relayd, message):
    with logged_in(relayd) as client:
        reply = client.data(stuff(message))
        assert reply.code == 250, reply
        return queue_id_of(reply)


def send_bdat(relayd, chunks):
    with logged_in(relayd) as client:
        for index, chunk in enumerate(chunks):
            last = " LAST" if index == len(chunks) - 1 else ""
            client.send(f"BDAT {len(chunk)}{last}\r\n".encode() + chunk)
            reply = client.reply()
            assert reply.code == 250, reply
        return queue_id_of(reply)


def stored_hashes(relayd, queue_id):
    shown = relayd.ctl("queue", "show", queue_id, "--json").stdout
    return json.loads(shown)["dkim_body_sha256"]


def expected(body, *names):
    methods = {"relaxed": canonicalization.Relaxed, "simple": canonicalization.Simple}
    return {name: hashlib.sha256(methods[name].canonicalize_body(body)).hexdigest()
            for name in names}


def test_one_relaxed_hash_for_two_relaxed_keys_matches_python3_dkim(make):
    relayd = make([("rsa", "rsa-2048", "relaxed"), ("ed", "ed25519", "relaxed")])
    queue_id = send_data(relayd, HEADER.format("one").encode() + BODY)
    assert stored_hashes(relayd, queue_id) == expected(BODY, "relaxed")
    # the relaxed and simple hashes of this body differ, so the test tells them apart
    assert expected(BODY, "relaxed")["relaxed"] != expected(BODY, "simple")["simple"]


def test_both_canonicalizations_in_use_give_both_hashes(make):
    relayd = make([("rsa", "rsa-2048", "relaxed"), ("ed", "ed25519", "simple")])
    queue_id = send_data(relayd, HEADER.format("two").encode() + BODY)
    assert stored_hashes(relayd, queue_id) == expected(BODY, "relaxed", "simple")


def test_bdat_with_crlf_dot_crlf_inside_a_chunk_and_no_final_crlf(make):
    relayd = make([("ed", "ed25519", "relaxed"), ("s", "ed25519", "simple")])
    body = BODY + b"before\r\n.\r\nafter the dot line  \r\nlast line without CRLF \t"
    message = HEADER.format("bdat").encode() + body
    cut = len(message) // 3
    queue_id = send_bdat(relayd, [message[:cut], message[cut:2 * cut], message[2 * cut:]])
    # Delivery ends the message with the CRLF it lacks (smtp/client_session.cc), so the receiver's
    # verifier hashes the body with it: the whitespace before it is then trailing whitespace,
    # which relaxed drops (python3-dkim keeps it on a last line without CRLF).
    delivered = body + b"\r\n"
    assert stored_hashes(relayd, queue_id) == expected(delivered, "relaxed", "simple")
    assert expected(body, "simple") == expected(delivered, "simple")


def test_empty_body_and_only_empty_lines(make):
    relayd = make([("ed", "ed25519", "relaxed"), ("s", "ed25519", "simple")])
    for name, body in (("empty", b""), ("blank", b"\r\n\r\n\r\n")):
        queue_id = send_data(relayd, HEADER.format(name).encode() + body)
        assert stored_hashes(relayd, queue_id) == expected(body, "relaxed", "simple"), name


def test_a_resource_without_keys_gets_no_hash(make):
    relayd = make([])
    queue_id = send_data(relayd, HEADER.format("none").encode() + BODY)
    assert stored_hashes(relayd, queue_id) == {}
