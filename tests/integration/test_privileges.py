"""relayd started as root binds its listeners, then runs as server.user: every thread has the
user's ids (real, effective, saved, file system) and no capability before and after a client is
served, and the spool it writes belongs to that user. A user it cannot become stops it at once,
with a message that names the key."""
import grp
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import RELAYD
from helpers import QueuedRelayd, SmtpClient, queue_id_of, simple_message, stuff, wait_until

TEST_USER = "relaytest"
TEST_EXTRA_GROUP = "relaytestextra"  # a supplementary group of TEST_USER

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="starting relayd as root needs root")


@pytest.fixture(scope="module")
def test_user():
    """A system user for relayd to become, member of one more group (made once, kept: user ids
    are not reused here)."""
    try:
        grp.getgrnam(TEST_EXTRA_GROUP)
    except KeyError:
        subprocess.run(["groupadd", "--system", TEST_EXTRA_GROUP], check=True)
    try:
        pwd.getpwnam(TEST_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", "--home-dir",
                        "/nonexistent", "--shell", "/usr/sbin/nologin", TEST_USER], check=True)
    if TEST_USER not in grp.getgrnam(TEST_EXTRA_GROUP).gr_mem:
        subprocess.run(["usermod", "--append", "--groups", TEST_EXTRA_GROUP, TEST_USER],
                       check=True)
    return pwd.getpwnam(TEST_USER)


@pytest.fixture
def folder():
    """pytest's tmp_path is private to root (0700 parents): the dropped user could not reach a
    spool inside it, as it could not in a root-only folder on a real machine."""
    path = Path(tempfile.mkdtemp(prefix="relay-privileges-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def privileged_port():
    """A free port below 1024 on 127.0.0.1: only root may bind it."""
    for port in range(1000, 600, -7):
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.skip("no free port below 1024")


def thread_identities(pid):
    """Per thread of `pid`: (Uid line, Gid line, Groups line, CapEff), as /proc shows them."""
    identities = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        fields = {}
        try:
            for line in (task / "status").read_text().splitlines():
                key, _, value = line.partition(":")
                fields[key] = value.split()
        except FileNotFoundError:
            continue  # the thread ended meanwhile
        identities[task.name] = (fields["Uid"], fields["Gid"], sorted(fields["Groups"]),
                                 fields["CapEff"][0])
    return identities


def assert_all_threads_run_as(pid, user, threads_min):
    identities = thread_identities(pid)
    assert len(identities) >= threads_min, identities
    groups = sorted({str(user.pw_gid), str(grp.getgrnam(TEST_EXTRA_GROUP).gr_gid)})
    expected = ([str(user.pw_uid)] * 4, [str(user.pw_gid)] * 4, groups, "0000000000000000")
    wrong = {task: identity for task, identity in identities.items() if identity != expected}
    assert not wrong, f"threads not running as {user.pw_name}: {wrong}"


def test_relayd_started_as_root_runs_every_thread_as_the_configured_user(test_user, folder):
    relayd = QueuedRelayd(folder, workers=2, server=f'user = "{TEST_USER}"\n')
    relayd.port = privileged_port()
    relayd.write_config("", 2)
    relayd.start()
    try:
        # The port accepts from the moment it is bound, before the workers exist.
        wait_until(lambda: "relayd started" in relayd.log(), message="relayd started")
        assert f"running as user {TEST_USER}" in relayd.log(), relayd.log()
        # main, control socket and two workers: all of them before any client connects
        assert_all_threads_run_as(relayd.process.pid, test_user, threads_min=4)
        with SmtpClient(relayd.port) as client:
            client.ehlo()
            client.envelope()
            reply = client.data(stuff(simple_message()))
            assert reply.code == 250, reply
            queue_id = queue_id_of(reply)
            assert_all_threads_run_as(relayd.process.pid, test_user, threads_min=4)
        assert queue_id in relayd.queue()  # relayctl, as root, reads the user's spool
        spool_files = [relayd.spool, *relayd.spool.rglob("*")]
        assert len(spool_files) >= 4, spool_files  # folder, lock, segments/, a segment
        store = relayd.folder / "store"  # the tenant store, next to the spool
        store_files = [store, *store.rglob("*")]
        assert len(store_files) >= 2, store_files
        foreign = [(str(path), path.lstat().st_uid) for path in spool_files + store_files
                   if path.lstat().st_uid != test_user.pw_uid]
        assert not foreign, f"files not owned by {TEST_USER}: {foreign}"
        assert relayd.spool.stat().st_mode & 0o777 == 0o750
    finally:
        assert relayd.stop() == 0, relayd.log()


def test_relayd_started_as_root_without_a_user_says_so(folder):
    relayd = QueuedRelayd(folder, workers=1).start()
    try:
        assert "running as root: set server.user" in relayd.log(), relayd.log()
    finally:
        relayd.stop()


def as_user(name):
    """subprocess arguments that start a program as `name` with the groups login (or systemd's
    User=) would give it."""
    if not name:
        return {}
    return {"user": name, "group": name,
            "extra_groups": [group.gr_name for group in grp.getgrall() if name in group.gr_mem]
            + [name]}


def run_relayd(config_path, *extra, user=None):
    return subprocess.run([str(RELAYD), "--config", str(config_path), *extra],
                          capture_output=True, text=True, timeout=20, **as_user(user))


def test_an_unknown_user_or_a_group_alone_is_a_config_error(folder):
    relayd = QueuedRelayd(folder, server='user = "no-such-relay-user"\n')
    for extra in ((), ("--check-config",)):
        result = run_relayd(relayd.config_path, *extra)
        assert result.returncode == 1, result
        assert 'server.user: no such user "no-such-relay-user"' in result.stderr, result.stderr
    relayd = QueuedRelayd(folder, server='group = "nogroup"\n')
    result = run_relayd(relayd.config_path, "--check-config")
    assert result.returncode == 1 and "server.group: needs server.user" in result.stderr, result


def test_a_spool_of_another_user_is_refused_with_the_fix(test_user, folder):
    relayd = QueuedRelayd(folder, server=f'user = "{TEST_USER}"\n')
    relayd.spool.mkdir()  # root's, as after running without server.user
    result = run_relayd(relayd.config_path)
    assert result.returncode == 1, result
    assert f"chown -R {TEST_USER}: {relayd.spool}" in result.stderr, result.stderr
    assert not (relayd.spool / "lock").exists()  # nothing opened in it
    with socket.socket() as probe:  # and its listener is gone with it
        probe.bind(("127.0.0.1", relayd.port))


def test_a_user_that_is_not_root_cannot_become_another(test_user, folder):
    relayd = QueuedRelayd(folder, server='user = "root"\n')
    result = run_relayd(relayd.config_path, user=TEST_USER)
    assert result.returncode == 1, result
    assert "cannot switch users" in result.stderr, result.stderr
    # Started as the configured user itself (systemd User=), it just runs.
    relayd = QueuedRelayd(folder, server=f'user = "{TEST_USER}"\n')
    os.chown(folder, test_user.pw_uid, test_user.pw_gid)
    with open(relayd.log_path, "wb") as log:
        process = subprocess.Popen([str(RELAYD), "--config", str(relayd.config_path)],
                                   stdout=log, stderr=subprocess.STDOUT, **as_user(TEST_USER))
    relayd.process = process
    try:
        wait_until(lambda: "relayd started" in relayd.log() or process.poll() is not None,
                   message="relayd started")
        assert process.poll() is None, relayd.log()
        assert_all_threads_run_as(process.pid, test_user, threads_min=3)
    finally:
        assert relayd.stop() == 0


def test_relayd_tells_systemd_it_is_ready_once_it_serves_and_when_it_stops(test_user, folder,
                                                                          monkeypatch):
    """Type=notify: systemd's NOTIFY_SOCKET, reached after the drop (by the user)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as manager:
        manager.bind(str(folder / "notify"))
        (folder / "notify").chmod(0o777)  # as systemd's /run/systemd/notify
        manager.settimeout(20)
        monkeypatch.setenv("NOTIFY_SOCKET", str(folder / "notify"))
        relayd = QueuedRelayd(folder, workers=2, server=f'user = "{TEST_USER}"\n')
        relayd.start(wait=False)
        try:
            assert manager.recv(4096) == b"READY=1", relayd.log()
            with SmtpClient(relayd.port) as client:  # serving by then: no wait for the port
                client.ehlo()
        finally:
            assert relayd.stop() == 0, relayd.log()
        assert manager.recv(4096) == b"STOPPING=1", relayd.log()
