"""The .deb that tools/build-deb makes: lintian finds no error and no unexplained warning, it
depends on the Debian packages that hold every library relayd loads (wolfSSL is inside relayd),
and dpkg installs it into a throwaway root, where its postinst makes the user relay and the spool
folder, relayd accepts the packaged configuration and, started as root as the unit starts it,
serves a client with every thread running as relay and only relay's files in its spool and
store; dpkg purges it without a trace.

The throwaway root is made of files of this machine's own packages (a shell, coreutils, perl-base,
adduser, passwd, dpkg, init-system-helpers, the CA bundle and the libraries they and relayd load):
no network and no container are needed; dpkg runs the maintainer scripts in it with chroot, and
relayd runs there in a network namespace of its own."""
import os
import re
import shutil
import signal
import stat
import subprocess
from pathlib import Path

import pytest

from conftest import BUILD, REPO, RELAYD, SANITIZED
from helpers import wait_until

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="dpkg --root and chroot need root"),
    pytest.mark.skipif(SANITIZED, reason="the package holds the release build"),
]

# What the maintainer scripts run, from the packages that hold it on every Debian system.
ROOT_PACKAGES = ["dash", "coreutils", "libc-bin", "perl-base", "adduser", "passwd", "dpkg",
                 "init-system-helpers"]
SKIPPED_FOLDERS = ("/usr/share/doc/", "/usr/share/man/", "/usr/share/locale/",
                   "/usr/share/lintian/")


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    output = tmp_path_factory.mktemp("deb")
    result = subprocess.run([str(REPO / "tools" / "build-deb"), str(output)], capture_output=True,
                            text=True, timeout=300, env={**os.environ, "RELAY_BUILD_DIR": str(BUILD)})
    assert result.returncode == 0, result.stderr
    path = Path(result.stdout.strip().splitlines()[-1])
    assert path.is_file(), result.stdout
    return path


def control_field(package, name):
    return subprocess.run(["dpkg-deb", "--field", str(package), name], capture_output=True,
                          text=True, check=True).stdout.strip()


def test_lintian_reports_no_error_and_no_unexplained_warning(package):
    result = subprocess.run(["lintian", "--fail-on", "error,warning", "--tag-display-limit", "0",
                             str(package)], capture_output=True, text=True, timeout=300)
    tags = [line for line in result.stdout.splitlines() if line[:2] in ("E:", "W:")]
    assert result.returncode == 0 and not tags, result.stdout + result.stderr


def test_the_package_holds_the_programs_unit_and_configuration_where_debian_puts_them(package):
    listing = subprocess.run(["dpkg-deb", "--contents", str(package)], capture_output=True,
                             text=True, check=True).stdout
    entries = {line.split()[-1].lstrip("."): line.split()[0] for line in listing.splitlines()}
    for path in ("/usr/sbin/relayd", "/usr/bin/relayctl"):
        assert entries.get(path) == "-rwxr-xr-x", (path, entries)
    for path in ("/etc/relay/relayd.toml", "/lib/systemd/system/relayd.service",
                 "/usr/share/doc/relay/copyright", "/usr/share/doc/relay/packaging.md.gz",
                 # The dashboard's files, where relayd looks for them by default.
                 "/usr/share/relay/dashboard/index.html",
                 "/usr/share/relay/dashboard/uPlot.iife.min.js"):
        assert path in entries, (path, sorted(entries))
    conffiles = subprocess.run(["dpkg-deb", "--info", str(package), "conffiles"],
                               capture_output=True, text=True, check=True).stdout
    assert conffiles.split() == ["/etc/relay/relayd.toml"]


def test_the_systemd_unit_verifies_and_is_hardened(package, tmp_path):
    unpacked = tmp_path / "unpacked"
    subprocess.run(["dpkg-deb", "--extract", str(package), str(unpacked)], check=True)
    unit = (unpacked / "lib/systemd/system/relayd.service").read_text()
    # verify wants the programs to exist: point it at the build's relayd
    (tmp_path / "relayd.service").write_text(unit.replace("/usr/sbin/relayd", str(RELAYD)))
    verify = subprocess.run(["systemd-analyze", "verify", "--recursive-errors=no",
                             str(tmp_path / "relayd.service")], capture_output=True, text=True,
                            timeout=60)
    assert verify.returncode == 0 and not verify.stderr.strip(), verify.stderr
    security = subprocess.run(["systemd-analyze", "security", "--offline=true",
                               str(tmp_path / "relayd.service")], capture_output=True,
                              text=True, timeout=60)
    exposure = re.search(r"Overall exposure level for relayd.service: ([0-9.]+)",
                         security.stdout)
    assert exposure, security.stdout + security.stderr
    # 10 is an unprotected service; relayd, which must start as root to bind port 25, stays
    # in systemd's "OK" band
    assert float(exposure.group(1)) <= 4.0, security.stdout


def test_every_library_relayd_loads_comes_from_a_package_it_depends_on(package):
    depends = {item.split()[0] for item in control_field(package, "Depends").split(", ")}
    libraries = [line.split()[2] for line in subprocess.run(
        ["ldd", str(RELAYD)], capture_output=True, text=True, check=True).stdout.splitlines()
        if "=>" in line and line.split()[2].startswith("/")]
    assert len(libraries) >= 5, libraries
    assert not [library for library in libraries if "wolfssl" in library]  # linked in statically
    # relayd's own dependencies, or what they depend on (libunistring comes with libidn2,
    # libnghttp2 and the GnuTLS stack with libcurl3-gnutls); one dpkg-query per package, once
    allowed = with_their_dependencies(depends)
    # The merged-/usr name (the real path) or the one ldd prints: dpkg knows one of them.
    owners = owner_packages({os.path.realpath(library) for library in libraries} | set(libraries))
    for library in libraries:
        name = owners.get(os.path.realpath(library)) or owners.get(library)
        assert name, f"{library} belongs to no Debian package"
        assert name in allowed, (library, name, sorted(depends))


def owner_packages(paths):
    """The package that holds each of `paths` dpkg knows, asked in one dpkg -S (each run reads
    the whole file database)."""
    listing = subprocess.run(["dpkg", "-S", *sorted(paths)], capture_output=True, text=True)
    owners = {}
    for line in listing.stdout.splitlines():
        packages, _, path = line.rpartition(": ")
        if path in paths and not packages.startswith("diversion by"):
            owners[path] = packages.split(":")[0]  # without the architecture
    return owners


def with_their_dependencies(packages):
    """`packages` and, recursively, the installed packages they depend on."""
    closure = set(packages)
    frontier = list(packages)
    while frontier:
        query = subprocess.run(["dpkg-query", "-W", "-f=${Depends},${Pre-Depends}",
                                frontier.pop()], capture_output=True, text=True)
        for alternative in query.stdout.replace("|", ",").split(","):
            name = alternative.strip().split(" ")[0].split(":")[0]
            if name and name not in closure:
                closure.add(name)
                frontier.append(name)
    return closure


def place(root, path, follow_links=False):
    """Copies the host's `path` to the same place under `root` (through merged-/usr links)."""
    target = root / os.path.realpath(os.path.dirname(path)).lstrip("/") / os.path.basename(path)
    if target.exists() or target.is_symlink():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    if os.path.islink(path) and not follow_links:
        os.symlink(os.readlink(path), target)
    else:
        shutil.copy2(os.path.realpath(path), target)


def libraries_of(paths):
    libraries = set()
    for path in paths:
        output = subprocess.run(["ldd", str(path)], capture_output=True, text=True).stdout
        libraries.update(word for line in output.splitlines() for word in line.split()
                         if word.startswith("/"))
    return libraries


def make_throwaway_root(root):
    for folder in ("usr/bin", "usr/sbin", "usr/lib", "usr/lib64", "etc", "dev", "tmp", "run",
                   "var/log", "var/lib/dpkg/info", "var/lib/dpkg/updates"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for link in ("bin", "sbin", "lib", "lib64"):
        os.symlink(f"usr/{link}", root / link)
    for name in ROOT_PACKAGES:
        for path in subprocess.run(["dpkg", "-L", name], capture_output=True, text=True,
                                   check=True).stdout.splitlines():
            if not path.startswith(SKIPPED_FOLDERS) and (os.path.islink(path) or
                                                        os.path.isfile(path)):
                place(root, path)
    place(root, "/usr/sbin/nologin")
    place(root, "/etc/ssl/certs/ca-certificates.crt", follow_links=True)  # ca-certificates
    programs = [path for path in (root / "usr").rglob("*") if path.is_file() and
                not path.is_symlink() and os.access(path, os.X_OK)]
    for library in libraries_of(programs + [RELAYD]):
        place(root, library, follow_links=True)  # ldd names them by links to elsewhere
    (root / "var/lib/dpkg/status").touch()
    (root / "var/lib/dpkg/available").touch()
    for name, minor in (("null", 3), ("random", 8), ("urandom", 9)):
        os.mknod(root / "dev" / name, 0o666 | stat.S_IFCHR, os.makedev(1, minor))
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc/group").write_text("root:x:0:\n")
    (root / "etc/shadow").write_text("root:*:19000:0:99999:7:::\n")
    (root / "etc/gshadow").write_text("root:*::\n")
    (root / "etc/nsswitch.conf").write_text("passwd: files\ngroup: files\nshadow: files\n")


SEND_ONE_MESSAGE = """
import smtplib
with smtplib.SMTP("127.0.0.1", 25, timeout=10) as client:
    refused = client.sendmail("sender@example.com", ["rcpt@example.net"],
                              b"From: <sender@example.com>\\r\\nSubject: t\\r\\n\\r\\nHello.\\r\\n")
    print("refused:", refused)
"""


def thread_ids(pid):
    """The Uid and Gid lines (real, effective, saved, file system) of every thread of `pid`."""
    ids = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        lines = (task / "status").read_text().splitlines()
        ids.update(tuple(line.split()) for line in lines if line.startswith(("Uid:", "Gid:")))
    return ids


def run_packaged_relayd(root, uid, gid):
    """Starts the installed relayd with the packaged configuration, as the unit would (as root),
    in a network namespace of its own (its ports 25 and 587 are the machine's otherwise); hands
    it one message and stops it."""
    log_path = root / "relayd.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            ["unshare", "--net", "--", "/bin/sh", "-c",
             f"ip link set lo up && exec chroot {root} /usr/sbin/relayd --config "
             "/etc/relay/relayd.toml"], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: process.poll() is not None or b"relayd started" in log_path.read_bytes(),
                   message="relayd started")
        assert process.poll() is None, log_path.read_text()
        expected = {("Uid:", *[str(uid)] * 4), ("Gid:", *[str(gid)] * 4)}
        assert thread_ids(process.pid) == expected, log_path.read_text()
        sent = subprocess.run(["nsenter", f"--net=/proc/{process.pid}/ns/net", "/usr/bin/python3",
                               "-c", SEND_ONE_MESSAGE], capture_output=True, text=True, timeout=30)
        assert sent.returncode == 0 and "refused: {}" in sent.stdout, sent.stderr
        assert thread_ids(process.pid) == expected
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, log_path.read_text()
    spool = root / "var/spool/relay"
    files = list(spool.rglob("*"))
    assert any(path.parent.name == "segments" for path in files), files
    store = root / "var/lib/relay/store"
    files += [store, *store.rglob("*")]
    assert {path.lstat().st_uid for path in [spool, *files]} == {uid}, files


def test_the_package_installs_into_a_throwaway_root_and_relayd_accepts_its_config(package,
                                                                                 tmp_path):
    root = tmp_path / "root"
    make_throwaway_root(root)
    # --force-depends: the libraries are there, but not in this root's package database.
    install = subprocess.run(["dpkg", f"--root={root}", "--force-depends", "--install",
                              str(package)], capture_output=True, text=True, timeout=120)
    assert install.returncode == 0, install.stdout + install.stderr
    assert "relay:x:" in (root / "etc/passwd").read_text()  # made by the postinst
    user = next(line.split(":") for line in (root / "etc/passwd").read_text().splitlines()
                if line.startswith("relay:"))
    for folder in ("var/spool/relay", "var/lib/relay/store"):
        made = (root / folder).stat()
        assert (made.st_uid, made.st_mode & 0o777) == (int(user[2]), 0o750), folder
    assert (root / "etc/relay/relayd.toml").stat().st_mode & 0o777 == 0o640

    check = subprocess.run(["chroot", str(root), "/usr/sbin/relayd", "--config",
                            "/etc/relay/relayd.toml", "--check-config"], capture_output=True,
                           text=True, timeout=30)
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == ("/etc/relay/relayd.toml: ok (2 listeners, spool "
                                    "/var/spool/relay)"), check.stdout

    run_packaged_relayd(root, uid=int(user[2]), gid=int(user[3]))

    purge = subprocess.run(["dpkg", f"--root={root}", "--purge", "relay"], capture_output=True,
                           text=True, timeout=120)
    assert purge.returncode == 0, purge.stdout + purge.stderr
    assert not (root / "var/spool/relay").exists() and not (root / "etc/relay").exists()
    assert not (root / "usr/sbin/relayd").exists()
