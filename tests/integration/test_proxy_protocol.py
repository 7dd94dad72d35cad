"""test_proxy_protocol.py -- relayd behind a load balancer: HAProxy in TCP mode sends a PROXY
protocol header (v2 with send-proxy-v2, v1 with send-proxy) before the client's bytes, and relayd
takes the client it names for everything that asks who the client is: the allowlist, the
per-client connection limits, the logs and Received:.

HAProxy runs on 127.0.0.1 and is the only address in the listener's proxy_from; the clients bind
their sockets to 127.0.0.5 (allowed by `clients`) and 127.0.0.6 (not allowed) before connecting
to it, so that relayd's socket peer is always 127.0.0.1 and only the header tells them apart.
The raw-socket tests write headers by hand, as the specification lays them out.
"""
import json
import re
import smtplib
import socket
import ssl
import struct
import time

import pytest

from conftest import Relayd, relayd_maker
from delivery_support import delivery_settings, make_certificate, network_fixture, wait_ready
from haproxy_support import haproxy_factory  # noqa: F401
from helpers import SmtpClient, queue_id_of, simple_message, stuff, wait_until
from helpers import relayd, relayd_factory  # noqa: F401

ALLOWED = "127.0.0.5"
REFUSED = "127.0.0.6"
BALANCED = """
proxy_protocol = true
proxy_from = ["127.0.0.1/32"]
clients = ["127.0.0.5/32"]
"""
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def v2_header(command, family=0x00, block=b""):
    """A v2 header: signature, version 2 with `command` (0 LOCAL, 1 PROXY), family, length."""
    return V2_SIGNATURE + bytes([0x20 | command, family]) + struct.pack("!H", len(block)) + block


def v2_tcp4(source, source_port, destination="127.0.0.1", destination_port=25, extensions=b""):
    block = (socket.inet_pton(socket.AF_INET, source) +
             socket.inet_pton(socket.AF_INET, destination) +
             struct.pack("!HH", source_port, destination_port) + extensions)
    return v2_header(1, 0x11, block)


def v2_tcp6(source, source_port, destination="2001:db8::25", destination_port=25):
    block = (socket.inet_pton(socket.AF_INET6, source) +
             socket.inet_pton(socket.AF_INET6, destination) +
             struct.pack("!HH", source_port, destination_port))
    return v2_header(1, 0x21, block)


def send_message(port, source, subject="through the balancer"):
    """One message from `source` to `port`; its queue id."""
    with SmtpClient(port, source=source) as client:
        assert client.greeting.code == 220, client.greeting
        client.ehlo()
        client.envelope()
        return queue_id_of(client.data(stuff(simple_message(subject))))


def queue_entry(relayd, queue_id):
    return json.loads(relayd.ctl("queue", "show", queue_id, "--json").stdout)


def raw_connection(relayd, source="127.0.0.1"):
    """A socket straight to relayd's listener, as a balancer (or an impostor) opens one."""
    sock = socket.create_connection(("127.0.0.1", relayd.port), timeout=5,
                                    source_address=(source, 0))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def closed_without_a_word(sock, timeout=4.0):
    """True when relayd closes the connection within `timeout` without sending a byte."""
    sock.settimeout(timeout)
    try:
        return sock.recv(4096) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def greeting_after(sock, header):
    """Sends `header` and reads the first reply line."""
    sock.sendall(header)
    sock.settimeout(5)
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, f"closed after the header; have {data!r}"
        data += chunk
    return data.split(b"\r\n", 1)[0].decode()


@pytest.mark.parametrize("version", ["v2", "v1"])
def test_the_allowlist_sees_the_client_behind_haproxy(relayd_factory, haproxy_factory, version):
    relayd = relayd_factory(listener=BALANCED)
    balancer = haproxy_factory([relayd.port], proxy=version)

    queue_id = send_message(balancer.port, ALLOWED)
    entry = queue_entry(relayd, queue_id)
    assert entry["client_ip"] == ALLOWED, entry
    wait_until(lambda: f"{queue_id}: client={ALLOWED} from=<sender@example.com>" in relayd.log(),
               message="the accepted message's log line with the real client")

    # The same balancer, another client: the allowlist's refusal, in place of the greeting.
    with SmtpClient(balancer.port, source=REFUSED) as client:
        reply = client.greeting
        assert (reply.code, reply.enhanced) == (554, "5.7.1"), reply
        assert client.closed()
    wait_until(lambda: f"client={REFUSED} refused: not in listener test's client networks"
               in relayd.log(), message="the refusal logged with the real client")
    assert "client=127.0.0.1" not in relayd.log()
    assert list(relayd.queue()) == [queue_id]


@pytest.fixture
def delivering_factory(tmp_path):
    """conftest's relayd, which delivers (this module's relayd_factory holds delivery)."""
    yield from relayd_maker(tmp_path, Relayd)


@pytest.fixture
def net(tmp_path, delivering_factory):
    yield from network_fixture(tmp_path, delivering_factory)


def test_received_names_the_client_behind_haproxy(net, haproxy_factory):
    receiver = net.receiver("127.0.0.2")
    settings = delivery_settings(None, net.port, routes=[("example.net", f"127.0.0.2:{net.port}")])
    relayd = net.factory(settings=settings, listener=BALANCED)
    wait_ready(relayd)
    balancer = haproxy_factory([relayd.port], proxy="v2")
    send_message(balancer.port, ALLOWED, subject="received-through-haproxy")
    wait_until(lambda: receiver.received, timeout=15, message="the message delivered")
    data = receiver.received[0].data
    field = re.match(rb"Received: .*?\r\n(?=\S)", data, re.S).group(0).decode()
    assert field.startswith(f"Received: from client.test ({ALLOWED})"), field
    assert "127.0.0.1" not in field


def test_per_client_connection_limits_count_the_client_not_the_balancer(relayd_factory,
                                                                        haproxy_factory):
    relayd = relayd_factory(listener=BALANCED.replace('["127.0.0.5/32"]',
                                                      '["127.0.0.5/32", "127.0.0.6/32"]'),
                            settings="[limits]\nconnections_per_client_per_minute = 2\n")
    balancer = haproxy_factory([relayd.port], proxy="v2")
    for _ in range(2):
        with SmtpClient(balancer.port, source=ALLOWED) as client:
            assert client.greeting.code == 220, client.greeting
            client.expect("QUIT", 221)
    with SmtpClient(balancer.port, source=ALLOWED) as client:
        assert (client.greeting.code, client.greeting.enhanced) == (421, "4.7.0"), client.greeting
    # Every connection came from the balancer's one address; another client is not held back.
    with SmtpClient(balancer.port, source=REFUSED) as client:
        assert client.greeting.code == 220, client.greeting
    wait_until(lambda: f"refusing {ALLOWED}: more than 2 connections from this address in a "
               "minute" in relayd.log(), message="the limit's log line with the real client")


def test_implicit_tls_and_a_large_message_through_haproxy(tmp_path, relayd_factory,
                                                          haproxy_factory):
    # The header comes before the ClientHello; a message large enough to be received straight
    # into the spool's chunks arrives intact.
    cert, key = make_certificate(tmp_path, "relay.test")
    relayd = relayd_factory(listener=BALANCED + 'tls = "implicit"\n',
                            settings=f'[tls]\ncertificate_chain_file = "{cert}"\n'
                                     f'private_key_file = "{key}"\n')
    balancer = haproxy_factory([relayd.port], proxy="v2")
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    body = b"".join(b"line %07d of a large message through the balancer\r\n" % index
                    for index in range(60000))
    with smtplib.SMTP_SSL("127.0.0.1", balancer.port, context=context, timeout=30,
                          source_address=(ALLOWED, 0)) as client:
        client.ehlo("client.test")
        client.sendmail("sender@example.com", ["rcpt@example.net"],
                        simple_message("large", body))
    (queue_id,) = relayd.queue()
    entry = queue_entry(relayd, queue_id)
    assert entry["client_ip"] == ALLOWED
    assert entry["protocol"] == "ESMTPS"
    data = relayd.message_data(queue_id)
    assert data.endswith(body), len(data)


def test_a_large_plaintext_message_through_haproxy(relayd_factory, haproxy_factory):
    # In plaintext a large message's data is received straight into the spool's chunks, once
    # the header is long gone: it arrives intact, and from the client the header named.
    relayd = relayd_factory(listener=BALANCED)
    balancer = haproxy_factory([relayd.port], proxy="v1")
    body = b"".join(b"plaintext line %07d through the balancer, received in place\r\n" % index
                    for index in range(80000))
    with smtplib.SMTP("127.0.0.1", balancer.port, timeout=30,
                      source_address=(ALLOWED, 0)) as client:
        client.ehlo("client.test")
        client.sendmail("sender@example.com", ["rcpt@example.net"],
                        simple_message("large plaintext", body))
    (queue_id,) = relayd.queue()
    assert queue_entry(relayd, queue_id)["client_ip"] == ALLOWED
    assert relayd.message_data(queue_id).endswith(body)


def test_a_peer_outside_proxy_from_is_closed_without_a_greeting(relayd_factory):
    relayd = relayd_factory(listener=BALANCED)
    with raw_connection(relayd, source="127.0.0.2") as sock:
        # Even with a header naming an allowed client: only a balancer may name one.
        try:
            sock.sendall(v2_tcp4(ALLOWED, 40000))
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert closed_without_a_word(sock)
    wait_until(lambda: "proxy=127.0.0.2 refused: not in listener test's proxy_from"
               in relayd.log(), message="the refusal in the log")
    assert relayd.queue() == {}


@pytest.mark.parametrize("header, reason", [
    (b"EHLO client.test\r\n", "not a PROXY protocol header"),
    (b"PROXY TCP4 127.0.0.5 127.0.0.1 99999 25\r\n",
     "v1 port is not a decimal number from 0 to 65535"),
    (v2_header(1, 0x12, b"\x00" * 12), "v2 family is not TCP over IPv4 or IPv6"),
    (v2_tcp4(ALLOWED, 40000, extensions=b"\x01\x00\x09smtp"),
     "v2 extension runs past the end of the header"),
])
def test_a_malformed_header_closes_the_connection_without_a_reply(relayd_factory, header,
                                                                  reason):
    relayd = relayd_factory(listener=BALANCED)
    with raw_connection(relayd) as sock:
        sock.sendall(header)
        assert closed_without_a_word(sock)
    wait_until(lambda: f"proxy=127.0.0.1: malformed PROXY protocol header ({reason}); closing"
               in relayd.log(), message="the malformed header's log line")


def test_no_header_within_the_timeout_closes_the_connection(relayd_factory):
    relayd = relayd_factory(listener=BALANCED + "proxy_header_timeout_s = 1\n")
    # A client that waits for a greeting, and one that trickles half a header.
    with raw_connection(relayd) as waiting, raw_connection(relayd) as trickling:
        started = time.monotonic()
        trickling.sendall(b"PROXY TCP4 ")
        assert closed_without_a_word(waiting, timeout=5)
        assert closed_without_a_word(trickling, timeout=5)
        assert time.monotonic() - started >= 0.9
    wait_until(lambda: relayd.log().count(
        "proxy=127.0.0.1: no PROXY protocol header within 1 s; closing") == 2,
        message="both timeouts in the log")


def test_v2_local_keeps_the_connection_address(relayd_factory):
    # The balancer's own health check: LOCAL names nobody, so the client is the socket's peer,
    # here 127.0.0.1, which this listener's clients admit.
    relayd = relayd_factory(listener=BALANCED.replace('["127.0.0.5/32"]',
                                                      '["127.0.0.1/32", "2001:db8::/32"]'))
    with raw_connection(relayd) as sock:
        assert greeting_after(sock, v2_header(0)).startswith("220 ")
        sock.sendall(b"QUIT\r\n")
    # A v2 PROXY header naming another client is judged by that client.
    with raw_connection(relayd) as sock:
        assert greeting_after(sock, v2_tcp4("127.0.0.9", 40000)).startswith("554 5.7.1 ")
    wait_until(lambda: "client=127.0.0.9 refused" in relayd.log(), message="the refusal")
    # And an IPv6 client through an IPv4 balancer, its header sent one octet at a time.
    with raw_connection(relayd) as sock:
        header = v2_tcp6("2001:db8::7", 40000)
        for octet in header[:-1]:
            sock.sendall(bytes([octet]))
            time.sleep(0.002)
        assert greeting_after(sock, header[-1:]).startswith("220 ")
        client = SmtpClient.__new__(SmtpClient)  # the SMTP helper on this very socket
        client.sock, client.buffer, client.timeout = sock, b"", 5.0
        client.ehlo()
        client.envelope()
        queue_id = queue_id_of(client.data(stuff(simple_message("ipv6"))))
    assert queue_entry(relayd, queue_id)["client_ip"] == "2001:db8::7"


def test_proxy_from_reloads_on_sighup(relayd_factory):
    relayd = relayd_factory(listener=BALANCED)
    with raw_connection(relayd) as sock:
        assert greeting_after(sock, v2_tcp4(ALLOWED, 40000)).startswith("220 ")
    relayd.config_path.write_text(relayd.config_path.read_text().replace(
        'proxy_from = ["127.0.0.1/32"]', 'proxy_from = ["127.0.0.2/32"]'))
    relayd.process.send_signal(1)
    wait_until(lambda: "listener[0].proxy_from" in relayd.log(), message="the reload")
    with raw_connection(relayd) as sock:
        assert closed_without_a_word(sock)
    with raw_connection(relayd, source="127.0.0.2") as sock:
        assert greeting_after(sock, v2_tcp4(ALLOWED, 40000)).startswith("220 ")


def test_haproxy_health_checks(relayd_factory, haproxy_factory):
    # With send-proxy-v2 on the server line, HAProxy's checks send a header too (LOCAL: no
    # client), so relayd greets the balancer itself when its address is a client: an SMTP
    # check passes. A check on an explicit port sends no header: a TCP connect, closed quietly.
    relayd = relayd_factory(listener=BALANCED.replace('["127.0.0.5/32"]',
                                                      '["127.0.0.5/32", "127.0.0.1/32"]'))
    smtp_checked = haproxy_factory([relayd.port], proxy="v2", check=True, check_interval_ms=200,
                                   backend_options="option smtpchk HELO balancer.test")
    connect_checked = haproxy_factory([relayd.port], proxy="v2", check=True,
                                      check_interval_ms=200, server_options=f"port {relayd.port}")
    wait_until(lambda: "Layer7 check passed" in smtp_checked.log(), message="the SMTP check")
    wait_until(lambda: "Layer4 check passed" in connect_checked.log(), message="the TCP check")
    time.sleep(0.5)  # a few more checks of each kind
    for balancer in (smtp_checked, connect_checked):
        queue_id = send_message(balancer.port, ALLOWED)
        assert queue_entry(relayd, queue_id)["client_ip"] == ALLOWED
    assert "check failed" not in smtp_checked.log() + connect_checked.log()
    log = relayd.log()
    assert "refused: not in listener" not in log and "PROXY protocol" not in log, log
