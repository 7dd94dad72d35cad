"""test_memory_bounds.py -- hostile or unlucky clients meet configured bounds, not relayd's memory.

* A client that pipelines commands and never reads the replies: relayd stops reading once the
  unread replies pass `limits.session_output_bytes_max`, and closes the session when nothing
  moves either way (`timeouts.command_s`, then `timeouts.close_s`).
* A disk that stalls while a large message arrives (the spool on a FUSE file system whose
  writes can be held): relayd stops reading once `limits.session_unwritten_bytes_max` is
  waiting for the disk, so the client slows down; the message completes once the disk moves.
* A client that trickles its data, or holds a transaction open with NOOPs: the minimum data
  rate and the transaction deadline end it with 421 4.4.2.

Memory is relayd's peak resident set (VmHWM) compared with its size before the attack.
"""
import json
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import LOADGEN, SANITIZED
from helpers import (SmtpClient, memory_kib, queue_id_of, reset_peak, simple_message,  # noqa: F401
                     stuff, wait_until, relayd, relayd_factory)  # the fixtures: delivery held

MIB = 1 << 20


def drain_until_closed(sock, timeout):
    """Reads until the server closes the connection; True if it did within `timeout`."""
    deadline = time.monotonic() + timeout
    sock.setblocking(True)
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            if not sock.recv(1 << 20):
                return True
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True
    return False


def test_a_client_that_pipelines_and_never_reads_is_held_to_the_output_bound(relayd_factory):
    relayd = relayd_factory(settings="""
        [timeouts]
        command_s = 2
        close_s = 1
        """)
    pid = relayd.process.pid
    with SmtpClient(relayd.port) as warm:
        warm.ehlo()
    before = memory_kib(pid, "VmRSS")
    reset_peak(pid)

    attacker = socket.socket()
    attacker.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    attacker.connect(("127.0.0.1", relayd.port))
    attacker.setblocking(False)
    # Each EHLO reply is about six times the size of the command: unread, they would pile up.
    burst = b"EHLO attacker.test\r\n" * 4096
    sent = 0
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        try:
            sent += attacker.send(burst)
        except BlockingIOError:
            time.sleep(0.01)
    grown_kib = memory_kib(pid, "VmHWM") - before

    # Reading paused: what the client got in is what the kernel buffers hold, not more.
    assert sent < 64 * MIB, f"relayd kept reading: {sent >> 20} MiB taken from the client"
    if not SANITIZED:
        assert grown_kib < 16 * 1024, f"relayd grew by {grown_kib} KiB for unread replies"

    # Other clients are served meanwhile.
    with SmtpClient(relayd.port) as client:
        client.ehlo()
        client.envelope()
        assert queue_id_of(client.data(stuff(simple_message())))

    # No progress either way: the idle timeout ends the session, and the connection is dropped
    # even though its last replies are never read.
    assert drain_until_closed(attacker, timeout=15), "the stalled session was never closed"
    attacker.close()


@pytest.fixture
def gated_spool(tmp_path):
    """relayd's spool folder on a FUSE pass-through whose writes wait while the gate exists."""
    if os.geteuid() != 0 or not Path("/dev/fuse").exists():
        pytest.skip("FUSE needs root and /dev/fuse")
    store = tmp_path / "disk"
    mountpoint = tmp_path / "relayd" / "spool"
    gate = tmp_path / "gate"
    store.mkdir()
    mountpoint.mkdir(parents=True)
    log = open(tmp_path / "gated_fs.log", "wb")
    process = subprocess.Popen(["/usr/bin/python3", str(Path(__file__).parent / "gated_fs.py"),
                                str(store), str(mountpoint), str(gate)],
                               stdout=log, stderr=log)
    try:
        wait_until(lambda: os.path.ismount(mountpoint), timeout=10, message="FUSE mount")
    except TimeoutError:
        process.kill()
        pytest.fail("the FUSE file system did not mount: " +
                    (tmp_path / "gated_fs.log").read_text(errors="replace"))
    yield mountpoint, gate
    gate.unlink(missing_ok=True)
    subprocess.run(["umount", "-l", str(mountpoint)], check=False)
    process.terminate()
    process.wait(timeout=10)
    log.close()


def test_a_stalled_disk_slows_the_client_instead_of_filling_memory(relayd_factory, gated_spool):
    mountpoint, gate = gated_spool
    # The minimal config ends in [spool]: the first line belongs to it.
    relayd = relayd_factory(settings="""
        chunk_bytes = 262144

        [limits]
        session_unwritten_bytes_max = 1048576
        """)
    pid = relayd.process.pid
    with SmtpClient(relayd.port) as warm:
        warm.ehlo()
        warm.envelope()
        assert queue_id_of(warm.data(stuff(simple_message())))
    before = memory_kib(pid, "VmRSS")
    reset_peak(pid)

    body = b"".join(b"line %08d " % index + b"x" * 88 + b"\r\n" for index in range(300_000))
    message = simple_message("large", body)  # about 30 MB
    gate.touch()  # the disk stalls
    client = SmtpClient(relayd.port, timeout=120)
    client.ehlo()
    client.envelope()
    client.expect("DATA", 354)
    progress = {"sent": 0}

    def send_all():
        data = stuff(message)
        view = memoryview(data)
        while view:
            count = client.sock.send(view[:65536])
            progress["sent"] += count
            view = view[count:]

    sender = threading.Thread(target=send_all)
    sender.start()
    time.sleep(4)
    grown_kib = memory_kib(pid, "VmHWM") - before
    taken = progress["sent"]
    assert taken < len(message) // 2, f"relayd kept reading: {taken >> 20} MiB taken"
    if not SANITIZED:
        assert grown_kib < 12 * 1024, f"relayd grew by {grown_kib} KiB while the disk stalled"

    gate.unlink()  # the disk moves again
    sender.join(timeout=120)
    assert not sender.is_alive()
    reply = client.reply(timeout=120)
    client.close()
    queue_id = queue_id_of(reply)
    assert relayd.message_data(queue_id) == message


def test_trickling_data_is_cut_off_below_the_minimum_rate(relayd_factory):
    relayd = relayd_factory(settings="""
        [limits]
        data_bytes_per_s_min = 1000

        [timeouts]
        data_rate_grace_s = 2
        """)
    with SmtpClient(relayd.port) as client:
        client.ehlo()
        client.envelope()
        client.expect("DATA", 354)
        client.send(b"Subject: slow\r\n\r\n")
        deadline = time.monotonic() + 10
        reply = None
        while reply is None and time.monotonic() < deadline:
            try:
                client.send(b"x")
            except (BrokenPipeError, ConnectionResetError):
                break
            if not client.silent(0.3):
                reply = client.reply()
        assert reply is not None, "the trickle was never cut off"
        assert (reply.code, reply.enhanced) == (421, "4.4.2"), reply
        assert reply.text.endswith("Error: message data arrives too slowly")
        assert client.closed()
    assert relayd.queue() == {}


def test_a_transaction_kept_open_with_noops_ends_at_its_deadline(relayd_factory):
    relayd = relayd_factory(settings="""
        [timeouts]
        transaction_s = 3
        """)
    with SmtpClient(relayd.port) as client:
        client.ehlo()
        client.envelope()
        started = time.monotonic()
        reply = None
        while time.monotonic() - started < 10:
            reply = client.command("NOOP")
            if reply.code != 250:
                break
            time.sleep(0.4)
        assert (reply.code, reply.enhanced) == (421, "4.4.2"), reply
        assert reply.text.endswith("Error: transaction time limit exceeded")
        assert 2.5 < time.monotonic() - started < 6
        assert client.closed()

    # Outside a transaction, NOOPs are only subject to the idle timeout.
    with SmtpClient(relayd.port) as client:
        client.ehlo()
        for _ in range(10):
            client.expect("NOOP", 250)
            time.sleep(0.4)


def test_back_pressure_pauses_and_resumes_without_dropping_a_session(relayd_factory):
    # A small bound makes every session pause and resume reading many times a second; a resume
    # that overtakes its pause's cancellation once dropped the session.
    relayd = relayd_factory(settings="""
        chunk_bytes = 65536

        [limits]
        session_unwritten_bytes_max = 65536
        """)
    result = subprocess.run(
        [str(LOADGEN), "--server", f"127.0.0.1:{relayd.port}", "--sessions", "12", "--messages",
         "24", "--size", str(6 * MIB), "--pipelining", "--bdat", "--quiet", "--json"],
        capture_output=True, text=True, timeout=300)
    summary = json.loads(result.stdout)
    assert summary["connections"]["dropped"] == 0, summary["connections"]
    assert summary["messages"]["accepted"] == 24, summary["messages"]
    assert len(relayd.queue()) == 24
