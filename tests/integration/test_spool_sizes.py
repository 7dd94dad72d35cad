"""test_spool_sizes.py -- a 250 holds at every message size, over every segment rollover.

With small segments (spool.segment_bytes_max = 1 MiB, the smallest allowed) a message of several
chunks lies in several segments. Such messages were once acknowledged and then lost (the
segment holding their first chunks was retired while they still arrived), and a run of 1.5 MB
messages on one connection crashed relayd. Here every message answered 250 must be in the queue
byte for byte, while relayd runs and after kill -9.
"""
import hashlib

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
