"""test_loadgen.py -- tools/loadgen against a small SMTP server written here.

The server (asyncio, in a thread of the test process, loopback only) implements just enough of
RFC 5321 with PIPELINING, CHUNKING (RFC 3030), SMTPUTF8 and 8BITMIME to check what loadgen sends:
the exact message bytes after dot-unstuffing, the record file loadgen writes (queue id, index,
size, xxh3-64 checked with the system's libxxhash), the counts in its summary, reconnection after
the server drops every connection, and exit statuses. It needs no relayd.

Run through meson (`meson test -C build --suite integration`, which sets RELAY_BUILD_DIR), or
by hand:
    RELAY_BUILD_DIR=build /usr/bin/python3 -m pytest tests/integration/test_loadgen.py
"""

import asyncio
import ctypes
import json
import os
import re
import subprocess
import threading
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.abspath(os.environ.get("RELAY_BUILD_DIR", os.path.join(REPO, "build")))


def loadgen_binary():
    path = os.path.join(BUILD, "tools", "loadgen")
    assert os.access(path, os.X_OK), f"{path} is missing: build it (ninja -C build tools/loadgen)"
    return path


_xxhash = ctypes.CDLL("libxxhash.so.0")
_xxhash.XXH3_64bits.restype = ctypes.c_uint64
_xxhash.XXH3_64bits.argtypes = [ctypes.c_char_p, ctypes.c_size_t]


def xxh3(data):
    return _xxhash.XXH3_64bits(data, len(data))


class Server:
    """A loopback SMTP server that keeps every message it accepts, keyed by queue id."""

    def __init__(self, extensions=("PIPELINING", "8BITMIME"), tempfail_every=0,
                 crash_after=0, host="127.0.0.1"):
        self.extensions = extensions
        self.tempfail_every = tempfail_every  # 451 at the end of data for every n-th message
        self.crash_after = crash_after  # drop every connection and stop after n acceptances
        self.host = host
        self.messages = {}  # queue id -> bytes as received (unstuffed)
        self.mail_commands = []
        self.connections = 0
        self.bdat_commands = 0
        self.data_commands = 0
        self.finished_messages = 0
        self.writers = set()
        self.loop = asyncio.new_event_loop()
        self.started = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.started.wait(10)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(
            asyncio.start_server(self._session, self.host, 0))
        self.port = self.server.sockets[0].getsockname()[1]
        self.started.set()
        self.loop.run_forever()

    def address(self):
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def stop(self):
        async def close():
            self.server.close()
            for writer in list(self.writers):
                writer.transport.abort()
        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def _ehlo_reply(self):
        lines = ["test.invalid"] + list(self.extensions)
        text = "".join(f"250-{line}\r\n" for line in lines[:-1])
        return (text + f"250 {lines[-1]}\r\n").encode()

    async def _finish(self, writer, data):
        self.finished_messages += 1
        if self.tempfail_every and self.finished_messages % self.tempfail_every == 0:
            writer.write(b"451 4.3.0 try again\r\n")
            return
        queue_id = f"Q{len(self.messages)}X"
        self.messages[queue_id] = data
        writer.write(f"250 2.0.0 Ok: queued as {queue_id}\r\n".encode())
        if self.crash_after and len(self.messages) >= self.crash_after:
            await writer.drain()
            self.server.close()
            for other in list(self.writers):
                other.transport.abort()

    async def _read_data(self, reader):
        lines = []
        while True:
            line = await reader.readuntil(b"\r\n")
            if line == b".\r\n":
                return b"".join(lines)
            lines.append(line[1:] if line.startswith(b".") else line)

    async def _session(self, reader, writer):
        self.connections += 1
        self.writers.add(writer)
        recipients = []
        writer.write(b"220 test.invalid ESMTP\r\n")
        try:
            while True:
                line = await reader.readuntil(b"\r\n")
                command = line[:-2].decode("utf-8")
                verb = command[:4].upper()
                if verb == "EHLO":
                    writer.write(self._ehlo_reply())
                elif verb == "HELO":
                    writer.write(b"250 test.invalid\r\n")
                elif verb == "MAIL":
                    self.mail_commands.append(command)
                    recipients = []
                    writer.write(b"250 2.1.0 Ok\r\n")
                elif verb == "RCPT":
                    if "reject" in command:
                        writer.write(b"550 5.1.1 no such user\r\n")
                    else:
                        recipients.append(command)
                        writer.write(b"250 2.1.5 Ok\r\n")
                elif verb == "DATA":
                    self.data_commands += 1
                    if not recipients:
                        writer.write(b"554 5.5.1 no valid recipients\r\n")
                        continue
                    writer.write(b"354 go ahead\r\n")
                    await writer.drain()
                    await self._finish(writer, await self._read_data(reader))
                elif verb == "BDAT":
                    self.bdat_commands += 1
                    size = int(command.split()[1])
                    data = await reader.readexactly(size)
                    if not recipients:
                        writer.write(b"554 5.5.1 no valid recipients\r\n")
                    else:
                        await self._finish(writer, data)
                elif verb == "RSET":
                    recipients = []
                    writer.write(b"250 2.0.0 Ok\r\n")
                elif verb == "QUIT":
                    writer.write(b"221 2.0.0 Bye\r\n")
                    await writer.drain()
                    break
                else:
                    writer.write(b"502 5.5.2 unknown command\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            self.writers.discard(writer)
            writer.close()


@pytest.fixture
def smtp_factory():
    servers = []

    def make(**kwargs):
        instance = Server(**kwargs)
        servers.append(instance)
        return instance
    yield make
    for instance in servers:
        instance.stop()


def run_loadgen(server, *args, timeout=60):
    command = [loadgen_binary(), "--server", server.address(), "--json"] + [str(a) for a in args]
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, timeout=timeout)
    result.elapsed = time.monotonic() - started
    result.summary = json.loads(result.stdout) if result.stdout else None
    return result


def read_records(path):
    records = []
    with open(path) as file:
        for line in file:
            queue_id, index, size, digest = line.rstrip("\n").split("\t")
            records.append((queue_id, int(index), int(size), int(digest, 16)))
    return records


def test_record_matches_the_bytes_the_server_received(smtp_factory, tmp_path):
    smtp = smtp_factory()
    record = tmp_path / "record.tsv"
    result = run_loadgen(smtp, "--messages", 300, "--sessions", 7, "--size", 5000,
                         "--pipelining", "--dot-lines", "--record", record, "--run-id", "r1")
    assert result.returncode == 0, result.stderr
    assert result.summary["messages"]["accepted"] == 300
    assert result.summary["messages"]["sent_pipelined"] == 300
    records = read_records(record)
    assert sorted(r[1] for r in records) == list(range(300))
    assert {r[0] for r in records} == set(smtp.messages)
    for queue_id, index, size, digest in records:
        data = smtp.messages[queue_id]
        assert len(data) == size == 5000
        assert xxh3(data) == digest
        assert f"Message-ID: <loadgen-{index}-r1@loadgen.invalid>".encode() in data
        assert all(len(line) <= 78 for line in data.split(b"\r\n"))
    bodies = b"".join(smtp.messages.values())
    assert b"\r\n.\r\n" in bodies and b"\r\n..\r\n" in bodies  # stuffed and unstuffed correctly


def test_messages_depend_only_on_seed_index_run_id_and_date(smtp_factory, tmp_path):
    smtp = smtp_factory()
    dumps = [tmp_path / "a", tmp_path / "b", tmp_path / "c"]
    options = ["--messages", 20, "--sessions", 3, "--run-id", "same", "--date",
               "Thu, 01 Jan 2026 00:00:00 +0000"]
    for directory, seed in zip(dumps, (5, 5, 6)):
        result = run_loadgen(smtp, *options, "--seed", seed, "--dump-dir", directory,
                             "--record", directory.with_suffix(".tsv"))
        assert result.returncode == 0, result.stderr

    def by_index(directory):
        return {r[1]: (directory / f"{r[0]}.eml").read_bytes()
                for r in read_records(directory.with_suffix(".tsv"))}
    first, second, third = (by_index(d) for d in dumps)
    assert len(first) == 20 and first == second
    assert all(first[i] != third[i] for i in first)


def test_bdat_is_used_when_chunking_is_offered(smtp_factory, tmp_path):
    smtp = smtp_factory(extensions=("PIPELINING", "CHUNKING", "SIZE 100000000"))
    record = tmp_path / "record.tsv"
    result = run_loadgen(smtp, "--messages", 100, "--sessions", 4, "--bdat", "--pipelining",
                         "--dot-lines", "--record", record)
    assert result.returncode == 0, result.stderr
    assert smtp.bdat_commands == 100 and smtp.data_commands == 0
    assert all(" SIZE=10240" in command for command in smtp.mail_commands)
    for queue_id, _, size, digest in read_records(record):
        assert xxh3(smtp.messages[queue_id]) == digest and size == 10240


def test_bdat_falls_back_to_data_without_chunking(smtp_factory):
    smtp = smtp_factory(extensions=("PIPELINING",))
    result = run_loadgen(smtp, "--messages", 20, "--bdat")
    assert result.returncode == 0, result.stderr
    assert smtp.bdat_commands == 0 and smtp.data_commands == 20
    assert result.summary["messages"]["sent_with_data"] == 20


def test_rejections_are_counted_by_code_and_the_session_goes_on(smtp_factory):
    smtp = smtp_factory(extensions=(), tempfail_every=5)  # no PIPELINING: lock-step
    result = run_loadgen(smtp, "--messages", 100, "--sessions", 3, "--pipelining",
                         "--to", "good@example.net", "--to", "reject@example.net")
    assert result.returncode == 1
    messages = result.summary["messages"]
    assert messages["attempted"] == 100 and messages["sent_pipelined"] == 0
    assert messages["permanently_rejected_by_code"] == {"550": 50}
    assert messages["temporarily_rejected_by_code"] == {"451": 10}
    assert messages["accepted"] == 40 and messages["lost"] == 0
    assert result.summary["connections"]["opened"] == 3
    assert smtp.data_commands == 50  # no DATA after a lone recipient was refused


def test_pipelined_rejections_with_two_recipients(smtp_factory):
    smtp = smtp_factory()
    result = run_loadgen(smtp, "--messages", 60, "--sessions", 2, "--pipelining",
                         "--recipients", 2, "--to", "a@example.net", "--to", "reject@x.net",
                         "--to", "reject2@x.net")
    # Round-robin pairs: (a, reject), (reject2, a), (reject, reject2), ...
    messages = result.summary["messages"]
    assert messages["accepted"] == 40
    assert messages["permanently_rejected_by_code"] == {"550": 20}
    assert messages["recipients_rejected"] == 80
    assert result.returncode == 1


def test_a_new_connection_per_message(smtp_factory):
    smtp = smtp_factory()
    result = run_loadgen(smtp, "--messages", 200, "--sessions", 5, "--pipelining",
                         "--messages-per-connection", 1)
    assert result.returncode == 0, result.stderr
    assert smtp.connections == 200
    assert result.summary["connections"]["opened"] == 200
    assert result.summary["connect_latency"]["samples"] == 200


def test_smtputf8_header_and_parameters(smtp_factory, tmp_path):
    smtp = smtp_factory(extensions=("PIPELINING", "8BITMIME", "SMTPUTF8"))
    result = run_loadgen(smtp, "--messages", 5, "--smtputf8", "--dump-dir", tmp_path)
    assert result.returncode == 0, result.stderr
    assert all(c.endswith(" BODY=8BITMIME SMTPUTF8") for c in smtp.mail_commands)
    for data in smtp.messages.values():
        subject = re.search(rb"^Subject: (.*)\r$", data, re.M).group(1)
        subject.decode("utf-8")  # valid UTF-8
        assert any(byte >= 0x80 for byte in subject)


def test_ipv6_and_duration(smtp_factory):
    smtp = smtp_factory(host="::1")
    result = run_loadgen(smtp, "--duration", 0.5, "--sessions", 2)
    assert result.returncode == 0, result.stderr
    assert result.summary["messages"]["accepted"] > 0
    assert result.elapsed < 5


def test_server_killed_mid_run(smtp_factory, tmp_path):
    smtp = smtp_factory(crash_after=150)
    record = tmp_path / "record.tsv"
    result = run_loadgen(smtp, "--messages", 100000, "--sessions", 10, "--pipelining",
                         "--record", record, "--give-up-ms", 500, timeout=30)
    assert result.returncode == 1
    summary = result.summary
    assert summary["gave_up"] is True
    assert summary["connections"]["dropped"] >= 1
    assert summary["connections"]["connect_errors"] >= 1
    records = read_records(record)
    assert len(records) == summary["messages"]["accepted"]
    # Everything recorded was acknowledged and stored by the server, byte for byte.
    assert 0 < len(records) <= len(smtp.messages) == 150
    for queue_id, _, _, digest in records:
        assert xxh3(smtp.messages[queue_id]) == digest
    assert result.elapsed < 10


def test_nothing_listening(tmp_path):
    class Closed:
        def address(self):
            return "127.0.0.1:9"  # discard port, nothing listens here
    result = run_loadgen(Closed(), "--messages", 10, "--give-up-ms", 200, timeout=20)
    assert result.returncode == 1
    assert result.summary["gave_up"] is True
    assert result.summary["messages"]["attempted"] == 0


def test_usage_errors_exit_2():
    for arguments in (["--server", "nohostport"], ["--server", "127.0.0.1:25", "--size", "10"],
                      ["--server", "127.0.0.1:25", "--recipients", "2"]):
        result = subprocess.run([loadgen_binary()] + arguments, capture_output=True, timeout=10)
        assert result.returncode == 2, arguments


class RawServer:
    """Accepts connections and answers each with fixed bytes (or nothing), then holds it open."""

    def __init__(self, greeting):
        import socket
        self.greeting = greeting
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.held = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def address(self):
        return f"127.0.0.1:{self.port}"

    def _serve(self):
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            if self.greeting:
                connection.sendall(self.greeting)
            self.held.append(connection)

    def stop(self):
        self.listener.close()
        for connection in self.held:
            connection.close()


def test_a_silent_server_times_out():
    silent = RawServer(b"")
    try:
        result = run_loadgen(silent, "--messages", 4, "--sessions", 2, "--timeout-ms", 200,
                             "--give-up-ms", 500, timeout=20)
    finally:
        silent.stop()
    assert result.returncode == 1
    assert result.summary["connections"]["timeouts"] >= 2
    assert result.summary["gave_up"] is True
    assert result.summary["messages"]["accepted"] == 0


def test_busy_greetings_end_in_a_give_up():
    busy = RawServer(b"421 4.3.2 busy, try later\r\n")
    try:
        result = run_loadgen(busy, "--messages", 4, "--sessions", 2, "--give-up-ms", 300,
                             timeout=20)
    finally:
        busy.stop()
    assert result.returncode == 1
    assert result.summary["gave_up"] is True
    assert result.summary["connections"]["closed_by_server"] >= 2
    assert result.summary["messages"]["attempted"] == 0


def test_garbage_is_a_protocol_error():
    garbage = RawServer(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    try:
        result = run_loadgen(garbage, "--messages", 4, "--sessions", 2, "--give-up-ms", 300,
                             timeout=20)
    finally:
        garbage.stop()
    assert result.returncode == 1
    assert result.summary["connections"]["protocol_errors"] >= 2
    assert result.summary["messages"]["accepted"] == 0
