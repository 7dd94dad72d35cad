#!/usr/bin/python3
"""fsync_latency.py -- what one group commit costs on this disk: write + fdatasync latency.

SYNOPSIS
    bench/e2e.d/fsync_latency.py [--folder /var/tmp] [--commits 2000] [--bytes 51200]

DESCRIPTION
    Times `write(bytes)` followed by `fdatasync` in a loop, the shape of one spool group
    commit, in two ways: appending to a growing file (what a spool segment does today: each
    sync also writes the inode, whose size changed) and overwriting blocks that were written
    and synced beforehand (a preallocated segment: the sync flushes data only). Prints p50,
    p90 and p99 of each, twice, interleaved, so that a change in the machine's load shows.

    It explains the accept latency of bench/e2e: a relayd session waits for the batch in
    flight and then for its own, so its 250 comes after one to two of these.

    Runs on one thread, touches only its own scratch file (removed at the end), handles no
    untrusted bytes.
"""
import argparse
import os
import tempfile
import time


def measure(folder, commits, size, preallocated):
    handle, path = tempfile.mkstemp(prefix="fsync-latency.", dir=folder)
    try:
        data = b"x" * size
        if preallocated:
            zeros = b"\0" * size
            for _ in range(commits):
                os.write(handle, zeros)
            os.fsync(handle)
            os.lseek(handle, 0, os.SEEK_SET)
        latencies = []
        for _ in range(commits):
            started = time.perf_counter()
            os.write(handle, data)
            os.fdatasync(handle)
            latencies.append(time.perf_counter() - started)
    finally:
        os.close(handle)
        os.unlink(path)
    latencies.sort()

    def at(share):
        return latencies[min(len(latencies) - 1, int(share * len(latencies)))] * 1000

    return at(0.5), at(0.9), at(0.99)


def main():
    parser = argparse.ArgumentParser(description="write + fdatasync latency on this disk")
    parser.add_argument("--folder", default="/var/tmp", help="folder on the disk to test")
    parser.add_argument("--commits", type=int, default=2000, help="commits per measurement")
    parser.add_argument("--bytes", type=int, default=51200, help="bytes written per commit")
    args = parser.parse_args()
    print(f"write {args.bytes} bytes + fdatasync, {args.commits} times, in {args.folder} "
          f"(load average {os.getloadavg()[0]:.2f})")
    for _ in range(2):
        for preallocated in (False, True):
            p50, p90, p99 = measure(args.folder, args.commits, args.bytes, preallocated)
            kind = "overwrite preallocated" if preallocated else "append to growing file"
            print(f"  {kind:24} p50 {p50:.3f} ms  p90 {p90:.3f} ms  p99 {p99:.3f} ms")


if __name__ == "__main__":
    main()
