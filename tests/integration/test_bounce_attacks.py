"""test_bounce_attacks.py -- the bounce listener (role = "bounce") meets hostile clients with the
configured bounds. It takes mail from anyone on port 25, without AUTH, so each attack a relay
listener's allowlist keeps out reaches it:

* a 200 MB report: read to its end, answered 250 once the kept prefix ([bounces]
  message_bytes_max) is parsed, relayd's peak memory within that prefix plus the session buffers,
  and nothing in the spool; one endless line (the listener has no line limit) is no different,
  and an endless header block ends at limits.header_bytes_max with 552 5.3.4;
* a client that pipelines a report and commands and never reads: reading pauses at
  limits.session_output_bytes_max, the idle and close timeouts end the session, and the bounce
  and relay listeners serve others meanwhile;
* clients trickling a byte at a time: timeouts.command_s before the data, the minimum data rate
  in it, and timeouts.transaction_s when an operator turned the rate off;
* connection floods get the documented 421 4.7.0 replies, counted apart from the relay
  listeners' ([bounces] connections_max and connections_per_client_max against [limits]): a
  flood on the public bounce port leaves the customers' slots alone, and the other way round;
  a full processor queue ([bounces] queue_max, the processor held behind the store's write lock as relayctl can hold it) answers
  451 4.3.0, after which the sender's retry is taken.

Memory is relayd's peak resident set (VmHWM) compared with its size before the attack, as in
test_memory_bounds.py.
"""
import json
import re
import socket
import threading
import time

import pytest

from conftest import SANITIZED, free_port
from helpers import (SmtpClient, memory_kib, queue_id_of, reset_peak, simple_message,  # noqa: F401
                     stuff, wait_until, relayd_factory)  # the fixture: delivery held
from test_bounce_listener import BOUNCE_DOMAIN, KEY, dsn, make_verp
from test_memory_bounds import drain_until_closed

MIB = 1 << 20
REPORT_ID = re.compile(r"^Ok: queued as [0-9A-F]{16}$")


def start(relayd_factory, bounces="", settings="", name="relayd", workers=2):
    """A relayd with a relay listener (relayd.port) and a bounce listener (relayd.bounce_port),
    and the resource acme/main the test's tokens name."""
    bounce_port = free_port()
    relayd = relayd_factory(settings=f"""
        [[listener]]
        name = "bounces"
        address = "127.0.0.1:{bounce_port}"
        role = "bounce"

        [return_path]
        bounce_domain = "{BOUNCE_DOMAIN}"
        key = "{KEY.hex()}"

        [bounces]
        {bounces}
        """ + settings, start=False, name=name, workers=workers)
    relayd.ctl("project", "add", "acme")
    relayd.ctl("resource", "add", "acme/main")
    relayd.start()
    relayd.bounce_port = bounce_port
    return relayd


def token_for(recipient):
    """A bounce address of acme/main naming `recipient` (queue id 1: no message needs to have been
    sent for a token to name its recipient)."""
    return make_verp(1, "acme/main", 0, recipient)


def stop_listed(relayd, address):
    out = relayd.ctl("stoplist", "check", address, "--resource", "acme/main", "--json").stdout
    entry = json.loads(out).get("entry")
    return entry is not None and entry["reason"] == "hard_bounce"


def open_report(relayd, recipient, timeout=10.0, source=None):
    """A bounce listener session up to the 354 of a report to `recipient`'s token."""
    client = SmtpClient(relayd.bounce_port, timeout=timeout, source=source)
    client.ehlo("mx.example.net")
    client.expect("MAIL FROM:<>", 250)
    client.expect(f"RCPT TO:<{token_for(recipient)}>", 250, "2.1.5")
    client.expect("DATA", 354)
    return client


def send_report(relayd, recipient, padding=b""):
    """A whole DSN about `recipient` (small, unless padded); returns the final reply."""
    with open_report(relayd, recipient) as client:
        client.send(stuff(dsn(recipient, padding=padding)))
        return client.reply(timeout=20)


def spool_bytes(relayd):
    return sum(path.stat().st_size for path in relayd.spool.rglob("*") if path.is_file())


# One MiB of a returned message, in lines of 78 octets (none starts with a dot).
BLOCK = b"".join(b"%010d" % index + b"y" * 66 + b"\r\n" for index in range(13_443))


def send_large_report(relayd, recipient, blocks):
    """A DSN whose returned message is `blocks` MiB, streamed by a client that reads its
    replies; returns the final reply and the octets of the report."""
    head = dsn(recipient).removesuffix(b"Hello.\r\n--B--\r\n")  # the report parts first
    with open_report(relayd, recipient, timeout=120) as client:
        client.send(head)
        for _ in range(blocks):
            client.send(BLOCK)
        client.send(b".\r\n")
        return client.reply(), len(head) + blocks * len(BLOCK)


def test_a_200_mb_report_is_read_answered_and_parsed_within_the_memory_bound(relayd_factory):
    relayd = start(relayd_factory, workers=1)  # one worker: one warm-up is enough
    pid = relayd.process.pid
    # The first large reports grow the allocator's arenas of the worker and the processor (27
    # MiB here, then no more whatever the size): they are the baseline, not what is measured.
    for _ in range(2):
        assert send_large_report(relayd, "warm@example.net", 20)[0].code == 250
    spool_before = spool_bytes(relayd)
    before = memory_kib(pid, "VmRSS")
    reset_peak(pid)
    samples = []
    sending = threading.Event()
    sending.set()

    def sample():
        while sending.is_set():
            samples.append(memory_kib(pid, "VmRSS"))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.monotonic()
    try:
        reply, size = send_large_report(relayd, "huge@example.net", 200_000_000 // len(BLOCK))
    finally:
        sending.clear()
        sampler.join()
    seconds = time.monotonic() - started
    grown_kib = memory_kib(pid, "VmHWM") - before

    assert (reply.code, reply.enhanced) == (250, "2.0.0"), reply
    assert REPORT_ID.match(reply.text.removeprefix("2.0.0 ")), reply  # and no size advice
    # Read to its end (the log gives the size received), parsed as far as it was kept.
    wait_until(lambda: f"> size={size}\n" in relayd.log(), timeout=5,
               message=f"the log line of the {size} octets received")
    assert stop_listed(relayd, "huge@example.net")
    print(f"200 MB report: {seconds:.1f} s, peak growth {grown_kib} KiB over {before} KiB, "
          f"{len(samples)} samples, largest {max(samples) - before} KiB")
    # The 1 MiB kept, the session's buffers, the parser's copy: a few MiB, not 200.
    if not SANITIZED:
        assert grown_kib < 6 * 1024, f"relayd grew by {grown_kib} KiB for a {size >> 20} MiB report"
    assert relayd.queue() == {}
    assert spool_bytes(relayd) - spool_before < MIB


def test_one_endless_line_or_header_stays_within_the_memory_bound(relayd_factory):
    # The listener has no line length limit (reports quote long lines) and a header block is
    # kept for inspection: neither may hold what it has not kept.
    relayd = start(relayd_factory, workers=1)
    pid = relayd.process.pid
    for _ in range(2):
        assert send_large_report(relayd, "warm@example.net", 20)[0].code == 250
    field = b"X-Padding: " + b"h" * 66 + b"\r\n"
    cases = {"line": (dsn("line@example.net").removesuffix(b"Hello.\r\n--B--\r\n"),
                      b"l" * MIB, (250, "2.0.0")),
             "header": (b"", field * (MIB // len(field)), (552, "5.3.4"))}
    for name, (head, chunk, expected) in cases.items():
        before = memory_kib(pid, "VmRSS")
        reset_peak(pid)
        with open_report(relayd, f"{name}@example.net", timeout=120) as client:
            client.send(head)
            for _ in range(100):
                client.send(chunk)
            client.send(b"\r\n.\r\n")
            reply = client.reply()
        grown_kib = memory_kib(pid, "VmHWM") - before
        assert (reply.code, reply.enhanced) == expected, (name, reply)
        if not SANITIZED:
            assert grown_kib < 6 * 1024, f"relayd grew by {grown_kib} KiB for a 100 MiB {name}"
    # The report parts came before the endless line: parsed.
    assert stop_listed(relayd, "line@example.net")
    assert not stop_listed(relayd, "header@example.net")


def test_a_client_that_never_reads_is_bounded_and_others_are_served(relayd_factory):
    relayd = start(relayd_factory, workers=1, settings="""
        [timeouts]
        command_s = 2
        close_s = 1
        """)
    pid = relayd.process.pid
    for _ in range(2):
        assert send_large_report(relayd, "warm@example.net", 20)[0].code == 250
    before = memory_kib(pid, "VmRSS")
    reset_peak(pid)

    attacker = socket.socket()
    attacker.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    attacker.connect(("127.0.0.1", relayd.bounce_port))
    attacker.setblocking(False)
    # A whole report of 8 MB, then EHLOs whose replies (six times their size) are never read.
    report = stuff(dsn("deaf@example.net", padding=(b"z" * 78 + b"\r\n") * 100_000))
    pending = memoryview(b"EHLO mx.example.net\r\nMAIL FROM:<>\r\n" +
                         f"RCPT TO:<{token_for('deaf@example.net')}>\r\nDATA\r\n".encode() +
                         report)
    burst = b"EHLO attacker.example\r\n" * 4096
    sent = 0
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        if not pending:
            pending = memoryview(burst)
        try:
            count = attacker.send(pending)
            sent += count
            pending = pending[count:]
        except BlockingIOError:
            time.sleep(0.01)
    grown_kib = memory_kib(pid, "VmHWM") - before
    print(f"deaf client: {sent >> 20} MiB taken, peak growth {grown_kib} KiB")

    # The report went in whole and was handled; then reading paused on the unread replies.
    assert sent > len(report), f"relayd stopped reading inside the report at {sent}"
    assert sent < len(report) + 64 * MIB, f"relayd kept reading: {sent >> 20} MiB taken"
    if not SANITIZED:
        assert grown_kib < 16 * 1024, f"relayd grew by {grown_kib} KiB for a deaf client"
    wait_until(lambda: stop_listed(relayd, "deaf@example.net"), timeout=5,
               message="the deaf client's report handled")

    # Others are served meanwhile, on both listeners.
    reply = send_report(relayd, "other@example.net")
    assert reply.code == 250, reply
    with SmtpClient(relayd.port) as client:
        client.ehlo()
        client.envelope()
        assert queue_id_of(client.data(stuff(simple_message())))

    # Nothing moves: command_s, then close_s, end it though its replies are never read.
    assert drain_until_closed(attacker, timeout=15), "the deaf session was never closed"
    attacker.close()
    assert relayd.process.poll() is None


def trickle(client, data, interval, limit_s):
    """Sends `data` a byte every `interval` seconds until a reply arrives; returns it and the
    seconds it took (None, if nothing came within `limit_s`)."""
    started = time.monotonic()
    for byte in data:
        if time.monotonic() - started > limit_s:
            break
        try:
            client.send(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            break
        if not client.silent(interval):
            return client.reply(), time.monotonic() - started
    return None, time.monotonic() - started


def test_trickling_clients_are_cut_off_by_the_documented_timeouts(relayd_factory):
    # Without a minimum data rate only the transaction's deadline bounds a trickle in DATA.
    no_rate = start(relayd_factory, settings="""
        [limits]
        data_bytes_per_s_min = 0

        [timeouts]
        command_s = 2
        data_s = 2
        transaction_s = 4
        """)
    rated = start(relayd_factory, name="rated", settings="""
        [limits]
        data_bytes_per_s_min = 1000

        [timeouts]
        data_rate_grace_s = 2
        """)
    results = {}
    slow_data = b"Subject: slow\r\n\r\n" + b"x" * 100

    def command_trickle():
        with SmtpClient(no_rate.bounce_port) as client:
            results["command"] = trickle(client, b"EHLO trickle.example.net\r\n" * 4, 0.5, 8)
            results["command closed"] = client.closed()

    def data_trickle(relayd, name):
        with open_report(relayd, f"{name}@example.net") as client:
            results[name] = trickle(client, slow_data, 0.5, 10)
            results[name + " closed"] = client.closed()

    threads = [threading.Thread(target=command_trickle),
               threading.Thread(target=data_trickle, args=(no_rate, "transaction")),
               threading.Thread(target=data_trickle, args=(rated, "rate"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    expected = {"command": ("Error: timeout exceeded", 1.5, 4),
                "transaction": ("Error: transaction time limit exceeded", 3, 7),
                "rate": ("Error: message data arrives too slowly", 1.5, 6)}
    for name, (text, low_s, high_s) in expected.items():
        reply, seconds = results[name]
        assert reply is not None, f"the {name} trickle was never cut off"
        assert (reply.code, reply.enhanced) == (421, "4.4.2"), (name, reply)
        assert reply.text.endswith(text), (name, reply)
        assert low_s < seconds < high_s, (name, seconds)
        assert results[name + " closed"], name
    # The cut reports were dropped: none reached the processor.
    for relayd in (no_rate, rated):
        assert "report to" not in relayd.log()


def greeting_code(port):
    with SmtpClient(port) as client:
        return client.greeting.code


def test_connection_floods_and_a_full_queue_get_the_documented_replies(relayd_factory):
    lmdb = pytest.importorskip("lmdb")
    relayd = start(relayd_factory, bounces="""queue_max = 1
        connections_max = 5
        connections_per_client_max = 3""", settings="""
        [limits]
        connections_per_client_max = 2
        """)
    held = [SmtpClient(relayd.bounce_port) for _ in range(3)]
    with SmtpClient(relayd.bounce_port, greet=False) as refused:
        reply = refused.reply()
        assert (reply.code, reply.enhanced) == (421, "4.7.0"), reply
        assert reply.text.endswith("Error: too many connections from your address")
        assert refused.closed()
    held += [SmtpClient(relayd.bounce_port, source=f"127.0.0.{n}") for n in (2, 3)]
    with SmtpClient(relayd.bounce_port, greet=False, source="127.0.0.4") as refused:
        reply = refused.reply()
        assert (reply.code, reply.enhanced) == (421, "4.7.0"), reply
        assert reply.text.endswith("Error: too many connections")
        assert refused.closed()
    # The relay listener's slots are its own: with every bounce slot taken, a customer from the
    # same address still gets its [limits] share, and no more.
    relay_held = [SmtpClient(relayd.port) for _ in range(2)]
    assert all(client.greeting.code == 220 for client in relay_held)
    with SmtpClient(relayd.port, greet=False) as refused:
        reply = refused.reply()
        assert (reply.code, reply.enhanced) == (421, "4.7.0"), reply
        assert reply.text.endswith("Error: too many connections from your address")
    for client in held + relay_held:
        client.close()
    # The slots are given back as relayd sees the sessions end.
    wait_until(lambda: greeting_code(relayd.bounce_port) == 220, timeout=5,
               message="a greeting after the flood")
    assert send_report(relayd, "after@example.net").code == 250

    # The processor waits for the store's write lock (held here as relayctl holds it while it
    # writes): the first report waits there, the next fills the queue, and a report that finds
    # the queue full is refused at once. Reports go one at a time until that refusal comes.
    store = lmdb.open(str(relayd.folder / "store"), max_dbs=64)
    transaction = store.begin(write=True)
    answers = {}
    threads = {}

    def report_in_background(name):
        answers[name] = send_report(relayd, f"{name}@example.net")

    try:
        for name in ("first", "second", "third", "fourth"):
            threads[name] = threading.Thread(target=report_in_background, args=(name,))
            threads[name].start()
            try:
                wait_until(lambda: answers, timeout=1, message="an answer")
                break
            except TimeoutError:
                continue
        assert len(answers) == 1, answers  # the others wait for the store
        [(refused, full)] = answers.items()
        assert refused != "first"  # the queue was empty then
        assert (full.code, full.enhanced) == (451, "4.3.0"), full
        assert full.text.endswith("Error: too many reports waiting to be read; try again later")
    finally:
        transaction.abort()
        store.close()
    for thread in threads.values():
        thread.join(timeout=20)
    waited = [name for name in threads if name != refused]
    assert [answers[name].code for name in waited] == [250] * len(waited), answers
    # The sender tries again later: taken.
    assert send_report(relayd, f"{refused}@example.net").code == 250
    for name in threads:
        assert stop_listed(relayd, f"{name}@example.net"), name


def test_reports_waiting_are_bounded_in_octets(relayd_factory):
    """queue_bytes_max bounds what waiting reports hold, whatever queue_max allows: with the
    processor held on the store's lock, one 40 KB report waits and a second would pass the
    64 KiB budget, so it is refused at once; once the first is handled, the second is taken."""
    lmdb = pytest.importorskip("lmdb")
    relayd = start(relayd_factory, bounces="""
        queue_max = 1000
        message_bytes_max = 65536
        queue_bytes_max = 65536
        """)
    padding = b"".join(b"%08d" % index + b"z" * 70 + b"\r\n" for index in range(512))
    store = lmdb.open(str(relayd.folder / "store"), max_dbs=64)
    transaction = store.begin(write=True)
    answers = {}
    threads = [threading.Thread(target=lambda name=name: answers.update(
        {name: send_report(relayd, f"{name}@example.net", padding)})) for name in ("a", "b")]
    try:
        for thread in threads:
            thread.start()
        wait_until(lambda: answers, timeout=10, message="one answer while the store is held")
        [(refused, full)] = answers.items()  # the other waits for the store
        assert (full.code, full.enhanced) == (451, "4.3.0"), full
    finally:
        transaction.abort()
        store.close()
    for thread in threads:
        thread.join(timeout=20)
    waited = "b" if refused == "a" else "a"
    assert answers[waited].code == 250, answers
    assert send_report(relayd, f"{refused}@example.net", padding).code == 250
    assert stop_listed(relayd, "a@example.net") and stop_listed(relayd, "b@example.net")
