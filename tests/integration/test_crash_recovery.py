"""test_crash_recovery.py -- a message that got 250 survives kill -9.

relayd (2 workers, small spool segments so that segment changes happen under load) takes mail
from tools/loadgen (20 sessions, 10 KB messages, dot lines, DATA or BDAT); at a chosen moment it
is killed with SIGKILL while the load runs; loadgen gives up, relayd is started again on the same
spool. Then every message loadgen recorded as acknowledged must be in `relayctl queue list`, with
its size, and the stored bytes of a sample (the last messages acknowledged before the kill, where
a lost or torn write would show, plus random ones) must equal what loadgen sent. Messages queued
whose 250 never reached the client are allowed (at most one per session per kill). The rounds
share one spool, so each later round also checks that recovered messages survive the next crash
and that queue ids are never reused.
"""
import ctypes
import json
import random
import subprocess
from concurrent.futures import ThreadPoolExecutor

from conftest import LOADGEN
from helpers import relayd, relayd_factory, wait_until  # noqa: F401 (fixtures: delivery held)


SESSIONS = 20
SIZE = 10240

# (seconds of load before the kill, loadgen options). Early (connections and first segments),
# mid-run, and later with BDAT and connection churn.
ROUNDS = [
    (0.4, ["--pipelining", "--dot-lines"]),
    (1.5, ["--pipelining", "--bdat"]),
    (3.0, ["--pipelining", "--dot-lines", "--messages-per-connection", "7"]),
]

SAMPLE_LAST = 16  # the messages acknowledged last before a kill
SAMPLE_RANDOM = 4

_xxhash = ctypes.CDLL("libxxhash.so.0")
_xxhash.XXH3_64bits.restype = ctypes.c_uint64
_xxhash.XXH3_64bits.argtypes = [ctypes.c_char_p, ctypes.c_size_t]


def xxh3(data):
    return _xxhash.XXH3_64bits(data, len(data))


def read_records(path):
    """loadgen's record file: queue id, message index, size, xxh3-64 (hex), in reply order."""
    records = []
    for line in path.read_text().splitlines():
        queue_id, index, size, digest = line.split("\t")
        records.append((queue_id, int(index), int(size), int(digest, 16)))
    return records


def record_lines(path):
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def load_and_kill(relayd, folder, kill_after_s, options, round_index):
    """Runs loadgen against relayd and kills relayd -9 after `kill_after_s` seconds of load.
    Returns loadgen's records and its dump folder."""
    record = folder / f"record-{round_index}.tsv"
    dump = folder / f"dump-{round_index}"
    loadgen = subprocess.Popen(
        [str(LOADGEN), "--server", f"127.0.0.1:{relayd.port}", "--sessions", str(SESSIONS),
         "--size", str(SIZE), "--duration", "30", "--record", str(record), "--dump-dir",
         str(dump), "--give-up-ms", "300", "--timeout-ms", "5000", "--run-id",
         f"crash{round_index}", "--seed", str(round_index + 1), "--json", "--quiet", *options],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # Load is flowing once acknowledgements reach the record file (flushed every 100 ms).
        wait_until(lambda: record_lines(record) > 0, timeout=10, message="first acknowledgements")
        try:
            loadgen.wait(timeout=kill_after_s)  # the moment of the kill is the point of the test
        except subprocess.TimeoutExpired:
            pass
        assert loadgen.poll() is None, "loadgen ended before the kill"
        relayd.kill()
        output, errors = loadgen.communicate(timeout=30)
    finally:
        if loadgen.poll() is None:
            loadgen.kill()
            loadgen.wait()
    assert loadgen.returncode == 1, errors  # it lost the server: not a clean run
    records = read_records(record)
    summary = json.loads(output)
    assert summary["gave_up"] is True
    assert summary["messages"]["accepted"] == len(records)
    assert summary["connections"]["protocol_errors"] == 0
    return records, dump


def verify_bytes(relayd, records, dump):
    """relayctl's stored bytes equal the bytes loadgen sent, for a sample of the records.
    (relayctl reads the whole spool for each message, so checking thousands one by one would
    take minutes.) Returns how many were compared."""
    rng = random.Random(len(records))
    chosen = set(records[-SAMPLE_LAST:] + rng.sample(records, min(SAMPLE_RANDOM, len(records))))

    def check(record):
        queue_id, index, size, digest = record
        sent = (dump / f"{queue_id}.eml").read_bytes()
        assert len(sent) == size and xxh3(sent) == digest, f"dump of {queue_id} is not the sent"
        data = relayd.message_data(queue_id)
        assert data == sent, f"{queue_id} (message {index}): stored bytes differ from the sent"

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(check, chosen))
    return len(chosen)


def test_acknowledged_messages_survive_kill_9(relayd_factory, tmp_path):
    # The keys go to [spool], the last table of the base config: segments of 1 MiB (the
    # smallest allowed) change every ~100 messages per worker, so kills land near changes too.
    relayd = relayd_factory(workers=2, settings="segment_bytes_max = 1048576\n")
    known = {}  # queue id -> (round, size) of every message acknowledged so far
    queued_before = set()
    summary = []
    for round_index, (kill_after_s, options) in enumerate(ROUNDS):
        records, dump = load_and_kill(relayd, tmp_path, kill_after_s, options, round_index)
        relayd.start()
        queue = relayd.queue()

        acknowledged = {r[0]: r for r in records}
        assert len(acknowledged) == len(records), "a queue id was acknowledged twice"
        reused = set(acknowledged) & queued_before
        assert not reused, f"queue ids reused after a restart: {sorted(reused)[:5]}"
        missing = [queue_id for queue_id in acknowledged if queue_id not in queue]
        assert not missing, (f"round {round_index}: {len(missing)} of {len(records)} "
                             f"acknowledged messages lost, e.g. {missing[:5]}")
        lost_earlier = [queue_id for queue_id in known if queue_id not in queue]
        assert not lost_earlier, f"messages of earlier rounds lost: {lost_earlier[:5]}"
        wrong_size = [queue_id for queue_id, r in acknowledged.items()
                      if queue[queue_id]["size"] != r[2]]
        assert not wrong_size, f"sizes differ: {wrong_size[:5]}"

        extra = set(queue) - queued_before - set(acknowledged)
        # A session has at most one message between its data and its 250.
        assert len(extra) <= SESSIONS, f"{len(extra)} messages nobody acknowledged"
        assert all(queue[queue_id]["size"] == SIZE for queue_id in extra)
        for queue_id in sorted(extra)[:3]:  # whole loadgen messages of this round
            data = relayd.message_data(queue_id)
            assert len(data) == SIZE and f"-crash{round_index}@loadgen.invalid>".encode() in data
        compared = verify_bytes(relayd, records, dump)
        summary.append(f"round {round_index} (kill after {kill_after_s} s, "
                       f"{' '.join(options)}): acknowledged {len(records)}, recovered "
                       f"{len(records)}, extra recovered {len(extra)}, bytes compared {compared}")
        known.update({queue_id: (round_index, r[2]) for queue_id, r in acknowledged.items()})
        queued_before = set(queue)

    # A clean stop and start changes nothing.
    assert relayd.stop() == 0
    relayd.start()
    assert set(relayd.queue()) == queued_before
    print("\n" + "\n".join(summary))
