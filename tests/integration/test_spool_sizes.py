"""test_spool_sizes.py -- a 250 holds at every message size, over every segment rollover.

With small segments (spool.segment_bytes_max = 1 MiB, the smallest allowed) a message of several
chunks lies in several segments. Such messages were once acknowledged and then lost (the
segment holding their first chunks was retired while they still arrived), and a run of 1.5 MB
messages on one connection crashed relayd. Here every message answered 250 must be in the queue
byte for byte, while relayd runs and after kill -9.
"""
import hashlib
import os
import random
import threading

from helpers import (SmtpClient, queue_id_of, stuff,  # noqa: F401
                     relayd, relayd_factory)  # the fixtures: delivery held

SMALL_SEGMENTS = "segment_bytes_max = 1048576\n"


def message_of(size, seed):
    """A message of about `size` bytes, lines of 78 octets, its content depending on `seed`."""
    header = f"Subject: spool sizes {seed}\r\n\r\n".encode()
    lines = []
    total = len(header)
    index = 0
    while total < size:
        digest = hashlib.sha256(f"{seed}-{index}".encode()).hexdigest()
        line = (digest + digest)[:76].encode() + b"\r\n"
        lines.append(line)
        total += len(line)
        index += 1
    return header + b"".join(lines)


def send_on_one_connection(relayd, messages):
    """Each message with DATA on one connection, the next MAIL sent at once after the data
    (pipelined); returns the queue ids."""
    ids = []
    with SmtpClient(relayd.port, timeout=60) as client:
        client.ehlo()
        for message in messages:
            client.send(b"MAIL FROM:<sender@example.com>\r\nRCPT TO:<rcpt@example.net>\r\n"
                        b"DATA\r\n")
            assert [reply.code for reply in client.replies(3)] == [250, 250, 354]
            client.send(stuff(message))
            ids.append(queue_id_of(client.reply(timeout=60)))
        client.expect("QUIT", 221)
    return ids


def test_multi_chunk_messages_over_small_segments_are_kept_whole(relayd_factory):
    relayd = relayd_factory(settings=SMALL_SEGMENTS)
    messages = [message_of(3_000_000, "three")] + [message_of(1_500_000, f"one-and-a-half-{n}")
                                                    for n in range(6)]
    ids = send_on_one_connection(relayd, messages)
    assert relayd.process.poll() is None, relayd.log()
    for queue_id, message in zip(ids, messages):
        assert relayd.message_data(queue_id) == message

    relayd.kill()
    relayd.start()
    assert set(relayd.queue()) == set(ids)
    for queue_id, message in zip(ids, messages):
        assert relayd.message_data(queue_id) == message


CHUNK = 65536  # spool.chunk_bytes in the randomized test: its smallest allowed value


def exact_message(size, seed, ends_with_crlf):
    """`size` octets: a short header, then 78-octet lines (the last one possibly cut); with `ends_with_crlf` the
    last two octets are CRLF, as DATA needs. Never ends in a lone CR (a bare line ending)."""
    line = hashlib.sha256(seed.encode()).hexdigest().encode()[:76] + b"\r\n"
    head = b"Subject: sizes\r\n\r\n"  # a short header block, then the body
    data = bytearray((head + line * (size // len(line) + 1))[:size])
    if ends_with_crlf and size >= 2:
        data[-2:] = b"\r\n"
        if size >= 3 and data[-3:-2] == b"\r":
            data[-3:-2] = b"x"
    elif data.endswith(b"\r"):
        data[-1:] = b"x"
    return bytes(data)


def random_sizes(rng, count):
    """Sizes on every side of the chunk and segment boundaries, and in between."""
    sizes = [0, 1, 2]
    while len(sizes) < count:
        kind = rng.randrange(3)
        if kind == 0:
            sizes.append(max(0, rng.randrange(1, 40) * CHUNK + rng.randrange(-3, 4)))
        elif kind == 1:
            sizes.append(max(0, rng.randrange(1, 4) * (1 << 20) + rng.randrange(-70_000, 70_000)))
        else:
            sizes.append(int(2 ** rng.uniform(3, 21.7)))
    return sizes


def send_one(port, message, bdat):
    with SmtpClient(port, timeout=60) as client:
        client.ehlo()
        client.envelope()
        if bdat:
            client.send(f"BDAT {len(message)} LAST\r\n".encode() + message)
            reply = client.reply(timeout=60)
        else:
            reply = client.data(stuff(message))
        return queue_id_of(reply)


def test_random_sizes_across_chunk_and_segment_boundaries(relayd_factory):
    seed = int(os.environ.get("RELAY_TEST_SEED", random.randrange(1 << 30)))
    print(f"seed {seed} (repeat: RELAY_TEST_SEED={seed})")
    rng = random.Random(seed)
    relayd = relayd_factory(settings=SMALL_SEGMENTS + f"chunk_bytes = {CHUNK}\n")
    cases = []
    for index, size in enumerate(random_sizes(rng, 36)):
        bdat = rng.random() < 0.5 or size < 2
        cases.append((exact_message(size, f"{seed}-{index}", not bdat), bdat))
    # Three sessions at once: their messages' chunks interleave in the segments.
    ids = [None] * len(cases)

    def sender(start):
        for index in range(start, len(cases), 3):
            message, bdat = cases[index]
            ids[index] = send_one(relayd.port, message, bdat)

    threads = [threading.Thread(target=sender, args=(start,)) for start in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert None not in ids, f"seed {seed}: not every message was answered 250"

    def check(when):
        queue = relayd.queue()
        for queue_id, (message, _bdat) in zip(ids, cases):
            assert queue_id in queue, f"seed {seed}, {when}: {len(message)} octets lost"
            assert relayd.message_data(queue_id) == message, (
                f"seed {seed}, {when}: {len(message)} octets differ")

    check("running")
    relayd.kill()
    relayd.start()
    check("after kill -9")
