"""test_client_networks.py -- who may connect: a listener admits the clients of its `clients`
networks (loopback by default) and answers every other client 554 5.7.1 in place of the greeting,
closes, and logs the address. The second client address is 127.0.0.2: the test binds its socket
there before connecting, so that relayd sees a loopback client outside 127.0.0.1/32.
"""
import re
import signal
import socket
import ssl
import subprocess
import textwrap

import pytest

from conftest import RELAYD, free_port
from delivery_support import make_certificate
from helpers import SmtpClient, queue_id_of, simple_message, stuff, wait_until
from helpers import relayd, relayd_factory  # noqa: F401

REFUSAL = "relay.test Error: your address is not allowed to use this service"
ONLY_FIRST = 'clients = ["127.0.0.1/32"]\n'


def refusal_line(relayd, address):
    return f"warning: client={address} refused: not in listener test's client networks"


def test_a_client_inside_the_networks_sends_mail(relayd_factory):
    relayd = relayd_factory(listener=ONLY_FIRST)
    with SmtpClient(relayd.port, source="127.0.0.1") as client:
        assert client.greeting.code == 220, client.greeting
        client.ehlo()
        client.envelope()
        queue_id = queue_id_of(client.data(stuff(simple_message())))
    assert queue_id in relayd.queue()
    assert "not in listener" not in relayd.log()


def test_a_client_outside_the_networks_gets_554_and_is_logged(relayd_factory):
    relayd = relayd_factory(listener=ONLY_FIRST)
    with SmtpClient(relayd.port, source="127.0.0.2") as client:
        reply = client.greeting
        assert (reply.code, reply.enhanced) == (554, "5.7.1"), reply
        assert reply.text == "5.7.1 " + REFUSAL
        assert client.closed(), "the connection stays open after the 554"
    wait_until(lambda: refusal_line(relayd, "127.0.0.2") in relayd.log(),
               message="the refusal in the log")
    assert relayd.queue() == {}
    # The refusal leaves the listener serving the clients it admits.
    with SmtpClient(relayd.port, source="127.0.0.1") as client:
        assert client.greeting.code == 220
        client.expect("EHLO client.test", 250)


def test_a_flood_of_refused_clients_is_counted_not_logged_line_by_line(relayd_factory):
    # A scanner's connections all get the 554; the log gets a line each for the first 20 of a
    # second per worker and a count for the rest, so that it stays readable and cheap.
    relayd = relayd_factory(listener=ONLY_FIRST)
    flood = 200
    for _ in range(flood):
        with SmtpClient(relayd.port, source="127.0.0.2") as client:
            assert client.greeting.code == 554
    counted = re.compile(r"(\d+) more connections refused within 1000 ms")

    def accounted():
        log = relayd.log()
        return log.count(refusal_line(relayd, "127.0.0.2")) + sum(
            int(count) for count in counted.findall(log))

    wait_until(lambda: accounted() == flood, timeout=10,
               message="every refused connection in the log, as a line or in a count")
    lines = relayd.log().count(refusal_line(relayd, "127.0.0.2"))
    assert lines < flood, "no count: every refusal got its own line"


def test_a_refused_client_sends_nothing_that_is_executed(relayd_factory):
    # A client that does not wait for the greeting: its commands reach no session.
    relayd = relayd_factory(listener=ONLY_FIRST)
    with SmtpClient(relayd.port, source="127.0.0.2", greet=False) as client:
        client.send("EHLO client.test\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\n"
                    "DATA\r\n" + stuff(simple_message()).decode())
        reply = client.reply()
        assert (reply.code, reply.enhanced) == (554, "5.7.1"), reply
        assert client.closed()
    assert relayd.queue() == {}


def test_refused_clients_hold_no_connection_slot(relayd_factory):
    # With one connection per address allowed, refused clients still all get the 554, never the
    # 421 of the connection limit: the network check comes first and takes no slot.
    relayd = relayd_factory(listener=ONLY_FIRST,
                            settings="[limits]\nconnections_per_client_max = 1\n")
    clients = [SmtpClient(relayd.port, source="127.0.0.2", greet=False) for _ in range(5)]
    try:
        replies = [client.reply() for client in clients]
    finally:
        for client in clients:
            client.close()
    assert [(r.code, r.enhanced) for r in replies] == [(554, "5.7.1")] * 5, replies
    with SmtpClient(relayd.port, source="127.0.0.1") as admitted:
        assert admitted.greeting.code == 220
    assert "too many connections" not in relayd.log()


def test_the_default_admits_all_of_loopback(relayd):
    for source in ("127.0.0.1", "127.0.0.2", "127.200.3.4"):
        with SmtpClient(relayd.port, source=source) as client:
            assert client.greeting.code == 220, (source, client.greeting)
            client.expect("EHLO client.test", 250)
    assert "not in listener" not in relayd.log()


def ipv6_loopback_available():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not ipv6_loopback_available(), reason="no IPv6 loopback here")
def test_ipv6_clients_are_matched_against_ipv6_networks(relayd_factory):
    # Two more listeners on ::1: one with the default networks admits ::1, one that lists
    # IPv4 networks only refuses it.
    default_port, ipv4_only_port = free_port(), free_port()
    relayd = relayd_factory(listener=textwrap.dedent(f"""
        [[listener]]
        name = "six"
        address = "[::1]:{default_port}"
        [[listener]]
        name = "four"
        address = "[::1]:{ipv4_only_port}"
        clients = ["127.0.0.0/8", "0.0.0.0/0"]
        """))
    with SmtpClient(default_port, host="::1") as client:
        assert client.greeting.code == 220, client.greeting
    with SmtpClient(ipv4_only_port, host="::1") as client:
        assert (client.greeting.code, client.greeting.enhanced) == (554, "5.7.1")
        assert client.closed()
    wait_until(lambda: "client=::1 refused: not in listener four's client networks"
               in relayd.log(), message="the refusal in the log")


def test_sighup_applies_new_client_networks_to_new_connections(relayd_factory):
    relayd = relayd_factory(listener=ONLY_FIRST)
    with SmtpClient(relayd.port, source="127.0.0.2") as client:
        assert client.greeting.code == 554
    relayd.listener_settings = 'clients = ["127.0.0.1/32", "127.0.0.2/32"]\n'
    relayd.write_config("", 2)
    relayd.process.send_signal(signal.SIGHUP)
    wait_until(lambda: "listener[0].clients applied" in relayd.log(), timeout=10,
               message="the reload in the log")
    # The reload reaches each worker through its inbox: a connection accepted just after the log
    # line may still meet the old networks, never for long.
    def admitted():
        with SmtpClient(relayd.port, source="127.0.0.2") as client:
            return client.greeting.code == 220
    wait_until(admitted, timeout=5, message="127.0.0.2 admitted")
    with SmtpClient(relayd.port, source="127.0.0.3") as client:
        assert (client.greeting.code, client.greeting.enhanced) == (554, "5.7.1")


def check_config(tmp_path, clients):
    path = tmp_path / "relayd.toml"
    path.write_text(textwrap.dedent(f"""
        [[listener]]
        address = "127.0.0.1:2525"
        clients = {clients}
        """))
    return subprocess.run([str(RELAYD), "--config", str(path), "--check-config"],
                          capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("clients, detail", [
    ('["127.0.0.1/33"]', "the prefix length must be a number from 0 to 32"),
    ('["10.0.0.1/8"]', "did you mean 10.0.0.0/8?"),
    ('["::1", "localhost"]', 'must be a network "ADDRESS/BITS" (got "localhost")'),
    ('["2001:db8::/129"]', "from 0 to 128"),
    ("[]", "must list at least one network"),
])
def test_check_config_refuses_bad_client_networks_naming_the_key(tmp_path, clients, detail):
    result = check_config(tmp_path, clients)
    assert result.returncode == 1, result.stdout
    assert "listener[0].clients: " in result.stderr, result.stderr
    assert detail in result.stderr, result.stderr


def test_check_config_accepts_good_client_networks(tmp_path):
    result = check_config(tmp_path, '["127.0.0.0/8", "::1", "192.0.2.0/24", "2001:db8::/32"]')
    assert result.returncode == 0, result.stderr


def test_an_implicit_tls_listener_sends_the_refusal_inside_tls(relayd_factory, tmp_path):
    # On port-465-style TLS a plaintext 554 would read as garbage: the client gets it after the
    # handshake.
    cert, key = make_certificate(tmp_path, "relay.test")
    relayd = relayd_factory(listener=ONLY_FIRST + textwrap.dedent(f"""
        tls = "implicit"
        [tls]
        certificate_chain_file = "{cert}"
        private_key_file = "{key}"
        """))
    context = ssl.create_default_context(cafile=str(cert))
    for source, expected in (("127.0.0.1", (220, None)), ("127.0.0.2", (554, "5.7.1"))):
        sock = socket.create_connection(("127.0.0.1", relayd.port), timeout=5,
                                        source_address=(source, 0))
        client = SmtpClient.__new__(SmtpClient)
        client.timeout = 5
        client.sock = context.wrap_socket(sock, server_hostname="relay.test")
        client.buffer = b""
        with client:
            reply = client.reply()
            assert (reply.code, reply.enhanced) == expected, (source, reply)
    wait_until(lambda: refusal_line(relayd, "127.0.0.2") in relayd.log(),
               message="the refusal in the log")
