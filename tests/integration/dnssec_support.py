"""dnssec_support.py -- real DNSSEC on loopback for the DANE tests.

`DnssecDns` runs Debian's `nsd` as the authoritative server of a few zones under "test" and
Debian's `unbound` as a validating resolver in front of it, each on 127.0.0.1 and a free port.
The zones listed as signed are signed with `ldns-signzone` (one ECDSA P-256 key made by
`ldns-keygen`, flagged as a key-signing key) and unbound gets that key's DS record as its trust
anchor: answers from them carry the AD bit because unbound validated them, not because anyone
said so. Unsigned zones have no anchor: unbound answers them as insecure, without the AD bit.

    dns = DnssecDns(folder, {"dane.test": ["@ MX 10 mx", "mx A 127.0.0.2", ...]},
                    signed={"dane.test"})
    relayd's [delivery] resolvers = [dns.address]
    dns.query("mx.dane.test", "A") -> (rcode text, AD bit, answer RRsets)
    dns.stop()
    DnssecDns.restart(dns) -> the same servers again, after a test changed a zone file

Zone lines are zone-file records relative to the zone's origin; SOA and NS are added here.
"""
import subprocess
import time
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rcode

from conftest import free_port

NSD = "/usr/sbin/nsd"
UNBOUND = "/usr/sbin/unbound"


def _zone_text(zone, records):
    lines = [f"$ORIGIN {zone}.", "$TTL 300",
             f"@ IN SOA ns.{zone}. hostmaster.{zone}. 1 3600 600 86400 300",
             f"@ IN NS ns.{zone}.", "ns IN A 127.0.0.1", *records]
    return "\n".join(lines) + "\n"


class DnssecDns:
    def __init__(self, folder, zones, signed=()):
        self.folder = Path(folder) / "dnssec"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.processes = []
        anchors = []
        zone_files = {}
        for zone, records in zones.items():
            path = self.folder / f"{zone}.zone"
            path.write_text(_zone_text(zone, records))
            if zone in signed:
                anchors.append(self._sign(zone, path))
                path = path.with_name(path.name + ".signed")
            zone_files[zone] = path.name
        (self.folder / "anchors.ds").write_text("".join(anchors))
        self.nsd_port = free_port()
        self.port = free_port()
        self.zone_files = zone_files
        self.anchored = bool(anchors)
        self._launch()

    @classmethod
    def restart(cls, stopped):
        """The servers of a stopped DnssecDns started again on the same ports, reading the zone
        files as they are now (a test may have changed them)."""
        dns = cls.__new__(cls)
        dns.__dict__.update(stopped.__dict__)
        dns.processes = []
        dns._launch()
        return dns

    def _launch(self):
        self._start_nsd(self.zone_files)
        self._start_unbound(self.zone_files, self.anchored)

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def _sign(self, zone, path):
        """Signs `path` into PATH.signed; returns the DS record of the key for the anchor."""
        key = subprocess.run(["ldns-keygen", "-a", "ECDSAP256SHA256", "-k", zone],
                             cwd=self.folder, check=True, capture_output=True,
                             text=True).stdout.strip()
        subprocess.run(["ldns-signzone", path.name, key], cwd=self.folder, check=True,
                       capture_output=True)
        return (self.folder / f"{key}.ds").read_text()

    def _start(self, command, log_name):
        log = open(self.folder / log_name, "wb")
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def _start_nsd(self, zone_files):
        folder = self.folder
        zones = "".join(f'zone:\n  name: "{zone}"\n  zonefile: "{name}"\n'
                        for zone, name in zone_files.items())
        (folder / "nsd.conf").write_text(
            "server:\n"
            f"  ip-address: 127.0.0.1@{self.nsd_port}\n"
            f'  zonesdir: "{folder}"\n'
            f'  zonelistfile: "{folder}/zone.list"\n'
            '  database: ""\n'
            f'  pidfile: "{folder}/nsd.pid"\n'
            f'  xfrdfile: "{folder}/xfrd.state"\n'
            f'  xfrdir: "{folder}"\n'
            '  username: ""\n'
            '  chroot: ""\n'
            f'  logfile: "{folder}/nsd.log"\n'
            "  server-count: 1\n"
            "  verbosity: 1\n"
            "remote-control:\n  control-enable: no\n" + zones)
        self._start([NSD, "-d", "-c", str(folder / "nsd.conf")], "nsd.out")

    def _start_unbound(self, zone_files, anchored):
        folder = self.folder
        stubs = "".join(f'stub-zone:\n  name: "{zone}"\n  stub-addr: 127.0.0.1@{self.nsd_port}\n'
                        for zone in zone_files)
        anchor = f'  trust-anchor-file: "{folder}/anchors.ds"\n' if anchored else ""
        (folder / "unbound.conf").write_text(
            "server:\n"
            f"  interface: 127.0.0.1@{self.port}\n"
            "  do-daemonize: no\n"
            '  username: ""\n'
            '  chroot: ""\n'
            f'  directory: "{folder}"\n'
            '  pidfile: ""\n'
            "  use-syslog: no\n"
            f'  logfile: "{folder}/unbound.log"\n'
            "  verbosity: 1\n"
            "  num-threads: 1\n"
            "  do-ip6: no\n"
            "  do-not-query-localhost: no\n"
            "  qname-minimisation: no\n"
            "  access-control: 127.0.0.0/8 allow\n"
            '  module-config: "validator iterator"\n'
            # "test." is one of unbound's built-in empty zones (RFC 6761).
            '  local-zone: "test." nodefault\n' + anchor +
            "remote-control:\n  control-enable: no\n" + stubs)
        self._start([UNBOUND, "-d", "-c", str(folder / "unbound.conf")], "unbound.out")
        self._wait_ready(next(iter(zone_files)))

    def _wait_ready(self, zone):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.query(zone, "SOA")[0] == "NOERROR":
                    return
            except Exception:  # not listening yet
                pass
            time.sleep(0.1)
        raise AssertionError("nsd/unbound did not start:\n" + self.log())

    def query(self, name, kind):
        """(RCODE text, AD bit, answer RRsets) of `name` `kind` through unbound, asking for AD."""
        request = dns.message.make_query(name, kind)
        request.flags |= dns.flags.AD
        answer = dns.query.udp(request, "127.0.0.1", port=self.port, timeout=2)
        return (dns.rcode.to_text(answer.rcode()), bool(answer.flags & dns.flags.AD),
                answer.answer)

    def log(self):
        return "".join(path.read_text(errors="replace")
                       for path in sorted(self.folder.glob("*.log")) + sorted(
                           self.folder.glob("*.out")))

    def stop(self):
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
