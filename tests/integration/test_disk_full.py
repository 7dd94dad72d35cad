"""A full disk: relayd answers 451/452 to what it cannot store, keeps every message it answered 250,
does not spin or pile up files while the disk stays full, and accepts again once there is room.

The spool lives on a small tmpfs the test mounts (root only; skipped otherwise)."""
import os
import re
import smtplib
import subprocess
import time

import pytest

from conftest import free_port
from helpers import wait_until

MESSAGE_LINES = 300  # about 300 KB per message: a 6 MiB spool fills after a handful


@pytest.fixture
def small_spool(tmp_path):
    folder = tmp_path / "relayd" / "spool"
    folder.mkdir(parents=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


def send(port, index):
    """One message; returns (code, reply text)."""
    body = (f"Subject: m{index}\r\n\r\n" + ("x" * 998 + "\r\n") * MESSAGE_LINES).encode()
    with smtplib.SMTP("127.0.0.1", port, timeout=20) as client:
        client.ehlo()
        client.mail("sender@example.com")
        client.rcpt("rcpt@example.net")
        code, reply = client.data(body)
        return code, reply.decode()


def queued_id(reply):
    return reply.rsplit(" ", 1)[-1]


def test_full_disk_refuses_with_451_and_loses_nothing(relayd_factory, small_spool):
    # The minimal config ends in [spool]: the first line below belongs to it.
    relayd = relayd_factory(settings=f"""
        segment_bytes_max = 1048576

        [delivery]
        retry_schedule_s = [3600]

        [[route]]
        domain = "*"
        host = "127.0.0.1:{free_port()}"
        """)

    accepted, refused = [], []
    for index in range(40):
        code, reply = send(relayd.port, index)
        assert code in (250, 451, 452), (code, reply)
        if code == 250:
            accepted.append(queued_id(reply))
        else:
            refused.append((code, reply))
    assert accepted and refused, f"{len(accepted)} accepted, {len(refused)} refused"
    # The client is told what kind of failure it met and an id to quote, never the file or the
    # system error; the log has the detail under that id.
    for code, reply in refused:
        match = re.fullmatch(r"(4\.3\.[01]) Error: .*; try again later \(incident ([0-9A-Z]{10})\)",
                             reply)
        assert match and match.group(1) == {451: "4.3.0", 452: "4.3.1"}[code], reply
        pattern = f"incident {match.group(2)}: .*not queued: .*spool"
        wait_until(lambda: re.search(pattern, relayd.log()), message=pattern)
    assert 452 in [code for code, _ in refused], "no refusal said the disk is full"

    # While the disk stays full, relayd neither spins nor creates a segment per attempt.
    segments = small_spool / "segments"
    count = len(os.listdir(segments))
    cpu_before = cpu_seconds(relayd.process.pid)
    time.sleep(2)
    assert cpu_seconds(relayd.process.pid) - cpu_before < 0.5
    assert len(os.listdir(segments)) == count <= 20
    assert set(relayd.queue()) == set(accepted)

    # Room again: the next message is accepted, and a restart finds exactly the 250s.
    subprocess.run(["mount", "-o", "remount,size=24m", str(small_spool)], check=True)
    code, reply = send(relayd.port, 100)
    assert code == 250, reply
    accepted.append(queued_id(reply))
    assert relayd.stop() == 0
    relayd.start()
    assert set(relayd.queue()) == set(accepted)
    assert "writable again" in relayd.log()


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
