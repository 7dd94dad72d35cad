#!/usr/bin/python3
"""bench/idle_connections.py -- what an idle SMTP connection costs relayd in memory.

SYNOPSIS
    bench/idle_connections.py [--build-dir DIR] [--no-build] [--connections 5000]
                              [--port 2531] [--batch 500] [--json FILE] [--keep]

DESCRIPTION
    Starts relayd (config in a scratch folder under /var/tmp, connections_max and
    connections_per_client_max 6000 or more, its RLIMIT_NOFILE raised before exec), opens
    --connections connections to it from this process (whose own RLIMIT_NOFILE it raises),
    waits for every 220 greeting, and reports how much relayd's resident memory (VmRSS,
    /proc/PID/status) grew per connection; then sends EHLO on every connection, reads every
    reply, and reports the growth again. Connections are opened in batches (--batch) whose
    greetings are read before the next batch, so the listen backlog never overflows.

    The baseline is taken after one connection has come and gone, so that what relayd
    allocates once on first use (buffer rings, session pools) is not charged to the idle
    connections. Kernel memory for the sockets is not in RSS; it is reported apart from
    /proc/net/sockstat (TCP "mem", in pages) for reference.

    Target: under 64 KiB of relayd memory per idle connection.

DIAGNOSTICS
    Exit status 0 when every connection got its greeting and its EHLO reply and the target
    was met; 1 when a connection failed or the target was missed; 2 on a usage error.
"""
import argparse
import json
import os
import resource
import selectors
import shutil
import socket
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "e2e.d"))

from relaybench import (BenchError, Relayd, build_paths, ensure_build,  # noqa: E402
                        load_average, port_free, status_kib, wait_port)

TARGET_KIB_PER_CONNECTION = 64
REPLY_TIMEOUT_S = 30


def parse_args():
    parser = argparse.ArgumentParser(description="relayd memory per idle connection")
    parser.add_argument("--build-dir", default="build", help="release build folder")
    parser.add_argument("--no-build", action="store_true", help="use the build as it is")
    parser.add_argument("--connections", type=int, default=5000, help="connections to open")
    parser.add_argument("--port", type=int, default=2531, help="relayd's port")
    parser.add_argument("--batch", type=int, default=500, help="connections opened at once")
    parser.add_argument("--scratch", default="/var/tmp", help="parent of the scratch folder")
    parser.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args()
    if not 1 <= args.connections <= 100000 or args.batch < 1:
        parser.error("--connections must be 1..100000 and --batch positive")
    return args


def relayd_config(port, connections):
    limit = max(6000, connections + 100)
    return f"""\
[server]
hostname = "relay.bench"
log_level = "warning"
shutdown_grace_s = 1

[[listener]]
name = "idle"
address = "127.0.0.1:{port}"

[limits]
connections_max = {limit}
connections_per_client_max = {limit}

[spool]
path = "spool"

[delivery]
tls = "none"
"""


def raise_own_file_limit(needed):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return
    if hard < needed:
        hard = needed  # root may raise the hard limit
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def read_replies(sockets, complete, what):
    """Reads from every socket until `complete(buffer)` holds for it; fails on a close or
    after REPLY_TIMEOUT_S. Returns the buffers."""
    selector = selectors.DefaultSelector()
    buffers = {}
    for connection in sockets:
        buffers[connection] = b""
        selector.register(connection, selectors.EVENT_READ)
    pending = len(sockets)
    deadline = time.monotonic() + REPLY_TIMEOUT_S
    while pending:
        if time.monotonic() > deadline:
            raise BenchError(f"{pending} connections got no complete {what} in "
                             f"{REPLY_TIMEOUT_S} s")
        for key, _ in selector.select(timeout=1.0):
            connection = key.fileobj
            data = connection.recv(65536)
            if not data:
                raise BenchError(f"a connection was closed before its {what}: "
                                 f"{buffers[connection]!r}")
            buffers[connection] += data
            if complete(buffers[connection]):
                selector.unregister(connection)
                pending -= 1
    selector.close()
    return buffers


def greeting_complete(buffer):
    return buffer.endswith(b"\r\n")


def ehlo_complete(buffer):
    """A multi-line reply ends with a line whose fourth character is a space."""
    if not buffer.endswith(b"\r\n"):
        return False
    last = buffer[:-2].rsplit(b"\r\n", 1)[-1]
    return len(last) >= 4 and last[3:4] == b" "


def check_codes(buffers, code, what):
    wrong = [buffer for buffer in buffers.values() if not buffer.startswith(code)]
    if wrong:
        raise BenchError(f"{len(wrong)} {what} replies were not {code.decode()}: "
                         f"{wrong[0][:200]!r}")


def open_connections(port, count, batch):
    opened = []
    while len(opened) < count:
        group = [socket.create_connection(("127.0.0.1", port), timeout=10)
                 for _ in range(min(batch, count - len(opened)))]
        check_codes(read_replies(group, greeting_complete, "greeting"), b"220", "greeting")
        opened.extend(group)
    return opened


def send_ehlo(connections, batch):
    for start in range(0, len(connections), batch):
        group = connections[start:start + batch]
        for connection in group:
            connection.sendall(b"EHLO idle.client.invalid\r\n")
        check_codes(read_replies(group, ehlo_complete, "EHLO reply"), b"250", "EHLO")


def tcp_memory_pages():
    with open("/proc/net/sockstat") as sockstat:
        for line in sockstat:
            if line.startswith("TCP:"):
                fields = line.split()
                return int(fields[fields.index("mem") + 1])
    return 0


def slab_kib():
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("Slab:"):
                return int(line.split()[1])
    return 0


def settled_rss_kib(pid):
    """VmRSS once it has stopped moving (relayd may still be finishing the last batch)."""
    previous = status_kib(pid, "VmRSS")
    for _ in range(20):
        time.sleep(0.1)
        current = status_kib(pid, "VmRSS")
        if current == previous:
            return current
        previous = current
    return previous


def measure(relayd, port, args):
    # One connection first, so that one-time allocations are in the baseline.
    warm = open_connections(port, 1, 1)
    send_ehlo(warm, 1)
    warm[0].close()
    time.sleep(0.3)
    base_rss = settled_rss_kib(relayd.pid)
    base_tcp = tcp_memory_pages()
    base_slab = slab_kib()
    started = time.monotonic()
    connections = open_connections(port, args.connections, args.batch)
    open_s = time.monotonic() - started
    relayd.check_alive()
    idle_rss = settled_rss_kib(relayd.pid)
    idle_tcp = tcp_memory_pages()
    idle_slab = slab_kib()
    send_ehlo(connections, args.batch)
    relayd.check_alive()
    ehlo_rss = settled_rss_kib(relayd.pid)
    ehlo_tcp = tcp_memory_pages()
    hwm = status_kib(relayd.pid, "VmHWM")
    for connection in connections:
        connection.close()
    count = args.connections
    page_kib = os.sysconf("SC_PAGE_SIZE") / 1024
    return {
        "connections": count, "open_s": open_s,
        "rss_base_kib": base_rss, "rss_idle_kib": idle_rss, "rss_after_ehlo_kib": ehlo_rss,
        "vm_hwm_kib": hwm,
        "kib_per_idle_connection": (idle_rss - base_rss) / count,
        "kib_per_connection_after_ehlo": (ehlo_rss - base_rss) / count,
        "kernel_tcp_kib_per_idle_connection": (idle_tcp - base_tcp) * page_kib / count,
        "kernel_tcp_kib_per_connection_after_ehlo": (ehlo_tcp - base_tcp) * page_kib / count,
        "kernel_slab_kib_per_idle_connection_both_ends": (idle_slab - base_slab) / count,
        "target_kib": TARGET_KIB_PER_CONNECTION,
        "load_average": load_average(),
    }


def report(figures):
    count = figures["connections"]
    print(f"relayd, {count} connections from 127.0.0.1, opened in {figures['open_s']:.1f} s "
          f"(load average {figures['load_average'][0]:.2f})")
    print(f"  VmRSS before    {figures['rss_base_kib'] / 1024:8.1f} MiB")
    print(f"  VmRSS idle      {figures['rss_idle_kib'] / 1024:8.1f} MiB   "
          f"{figures['kib_per_idle_connection']:6.1f} KiB per connection")
    print(f"  VmRSS after EHLO{figures['rss_after_ehlo_kib'] / 1024:8.1f} MiB   "
          f"{figures['kib_per_connection_after_ehlo']:6.1f} KiB per connection")
    print(f"  kernel TCP memory (not in RSS): "
          f"{figures['kernel_tcp_kib_per_idle_connection']:.1f} KiB per idle connection, "
          f"{figures['kernel_tcp_kib_per_connection_after_ehlo']:.1f} after EHLO; kernel slab "
          f"{figures['kernel_slab_kib_per_idle_connection_both_ends']:.1f} KiB per idle "
          f"connection, both ends (machine-wide, noisy)")
    worst = max(figures["kib_per_idle_connection"], figures["kib_per_connection_after_ehlo"])
    met = worst < TARGET_KIB_PER_CONNECTION
    print(f"target < {TARGET_KIB_PER_CONNECTION} KiB per idle connection: "
          f"{'met' if met else 'NOT met'} ({worst:.1f} KiB)")
    return met


def main():
    args = parse_args()
    if not args.no_build:
        ensure_build(args.build_dir)
    paths = build_paths(args.build_dir)
    if not port_free(args.port):
        print(f"idle_connections: port {args.port} is in use; choose --port", file=sys.stderr)
        return 1
    file_limit = args.connections + 1024
    raise_own_file_limit(file_limit)
    folder = tempfile.mkdtemp(prefix="relay-idle.", dir=args.scratch)
    relayd = None
    ok = False
    try:
        relayd = Relayd(paths, folder, relayd_config(args.port, args.connections),
                        nofile_limit=file_limit + 1024)
        wait_port(args.port, relayd.process)
        figures = measure(relayd, args.port, args)
        ok = report(figures)
        if args.json:
            with open(args.json, "w") as out:
                json.dump(figures, out, indent=2)
    except BenchError as error:
        print(f"idle_connections: {error}", file=sys.stderr)
    finally:
        if relayd is not None:
            relayd.stop()
        if args.keep or not ok:
            print(f"scratch folder kept: {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
