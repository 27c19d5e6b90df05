"""A disposable hypervisor in network namespaces, driven by real DHCP clients.

Layout: one *hypervisor* namespace (where nfdhcpd, its iptables rules and an optional
bridge `br0` live) and one namespace per *VM*. A VM's "TAP" is a veth pair: `tapN` in
the hypervisor namespace, `eth0` (with the VM's MAC) in the VM namespace, so a frame
nfdhcpd injects on `tapN` arrives on the VM's `eth0` exactly as with a real TAP.

Everything created here has a unique `nfdt-` name, is registered for cleanup the
moment it exists and is removed by `Hypervisor.close()`: processes are stopped by PID,
namespaces deleted, `/etc/netns/<vm>` directories removed. Nothing touches the host
namespace's interfaces, firewall, hostname or /etc/resolv.conf: clients run in their
VM's network namespace plus private mount and UTS namespaces (see `VM._run_client`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import json
import os
import pwd
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface, IPv6Network
from pathlib import Path
from typing import Any, Literal, TypeVar

from .. import oracle

T = TypeVar("T")
Mode = Literal["routed", "bridged"]

REPO_ROOT = Path(__file__).resolve().parents[2]
NAME_PREFIX = "nfdt-"
ETC_NETNS = Path("/etc/netns")
PROC_QUEUES = "/proc/net/netfilter/nfnetlink_queue"
DHCLIENT_SCRIPT = "/sbin/dhclient-script"
DHCPCD_HOOKS = "/usr/lib/dhcpcd/dhcpcd-run-hooks"
#: Tools the testbed drives; `missing_tools()` reports the absent ones.
TOOLS = (
    "ip", "iptables", "sysctl", "unshare", "timeout",
    "udhcpc", "dhclient", "dhcpcd", "dnsmasq", "perfdhcp",
)  # fmt: skip
#: What the IPv6 tests need besides TOOLS; `missing_tools(TOOLS6)` reports the absent ones.
TOOLS6 = ("ip6tables", "rdisc6", "ndisc6")
#: NFQUEUE numbers of the IPv6 rules (README "iptables rules"): RS, NS, DHCPv6.
QUEUES6 = (43, 44, 45)
#: Where a dnsmasq stand-in for "another DHCP server on the host" lives.
PASSTHROUGH_NET = IPv4Interface("10.99.0.1/24")
#: What a server sends towards a VM: a DHCPv4 reply (UDP from port 67), a DHCPv6 reply
#: (UDP from 547), a Router or a Neighbor Advertisement. Part of the scripts below.
_IS_REPLY = """
def is_reply(f):
    if f[12:14] == b"\\x08\\x00" and len(f) >= 42 and f[23] == 17:
        ihl = (f[14] & 15) * 4
        return f[14 + ihl:16 + ihl] == b"\\x00\\x43"
    if f[12:14] == b"\\x86\\xdd" and len(f) >= 58:
        if f[20] == 17:
            return f[54:56] == b"\\x02\\x23"
        return f[20] == 58 and f[54] in (134, 136)
    return False
"""
#: Writes every frame a server sends towards a VM in this namespace (a DHCP or DHCPv6
#: reply, an RA or an NA, outgoing on any interface) to the pcap file argv[1]. A plain
#: AF_PACKET socket, not dumpcap: libpcap's ring buffer hands frames over in blocks,
#: and the last block would be lost when the capture stops right after a test.
#: Frames the kernel's own stack sends (dnsmasq's) leave with a partial checksum that
#: veth never completes (TP_STATUS_CSUMNOTREADY in PACKET_AUXDATA): they are not
#: nfdhcpd's, whose frames are complete when injected, and are left out.
_CAPTURER = (
    _IS_REPLY
    + """
import signal, socket, struct, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.setsockopt(263, 8, 1)  # SOL_PACKET, PACKET_AUXDATA
out = open(sys.argv[1], "wb")
out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
def keep(received):
    frame, ancillary, _flags, addr = received
    status = 0
    for level, kind, data in ancillary:
        if (level, kind) == (263, 8):
            status = struct.unpack_from("I", data)[0]
    if addr[2] == socket.PACKET_OUTGOING and not status & 8 and is_reply(frame):
        out.write(struct.pack("<IIII", 0, 0, len(frame), len(frame)) + frame)
def stop(*_):
    s.setblocking(False)  # what is queued was sent before the signal: keep it
    try:
        while True:
            keep(s.recvmsg(65535, 64))
    except BlockingIOError:
        pass
    out.close()
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
print("ready", flush=True)
while True:
    keep(s.recvmsg(65535, 64))
"""
)


class TestbedError(RuntimeError):
    """A testbed command failed: the message holds the command and its stderr."""

    __test__ = False  # not a pytest test class, despite the name


def run(
    args: Sequence[str], *, timeout: float = 30.0, check: bool = True, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion, capturing its output; raise `TestbedError` on failure."""
    try:
        proc = subprocess.run(
            list(args), input=stdin, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise TestbedError(f"{shlex.join(args)}: timed out after {timeout}s") from exc
    if check and proc.returncode != 0:
        raise TestbedError(
            f"{shlex.join(args)} exited {proc.returncode}: {(proc.stderr or proc.stdout).strip()}"
        )
    return proc


def wait_for(probe: Callable[[], T], *, timeout: float, what: str, interval: float = 0.02) -> T:
    """Poll `probe` until it returns something truthy; return it, or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)


def missing_tools(tools: Sequence[str] = TOOLS) -> list[str]:
    return [tool for tool in tools if shutil.which(tool) is None]


def unique_name(role: str) -> str:
    return f"{NAME_PREFIX}{role}-{secrets.token_hex(4)}"


def nfdhcpd_executable() -> Path | None:
    """$NFDHCPD, else the repo's venv entry point, else one on PATH."""
    candidates = [os.environ.get("NFDHCPD"), str(REPO_ROOT / ".venv/bin/nfdhcpd")]
    candidates.append(shutil.which("nfdhcpd"))
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


def _remove_etc_netns(etc: Path) -> None:
    shutil.rmtree(etc, ignore_errors=True)
    with contextlib.suppress(OSError):  # only if empty: other runs may be using it
        etc.parent.rmdir()


# --------------------------------------------------------------------------- processes


class Process:
    """A background process the testbed started; stopped by its PID, never by name."""

    def __init__(self, name: str, args: Sequence[str], log_path: Path) -> None:
        self.name = name
        self.args = list(args)
        self.log_path = log_path
        with open(log_path, "wb") as log:
            # A new session keeps a terminal's Ctrl-C away from it: the owner stops it.
            self.popen = subprocess.Popen(
                self.args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def signal(self, signum: int) -> None:
        if self.alive():
            os.kill(self.pid, signum)

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, then SIGKILL if it lingers; return the exit status (negative = signal)."""
        if self.alive():
            os.kill(self.pid, signal.SIGTERM)
            try:
                return self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
        return self.popen.wait(timeout)


# ----------------------------------------------------------------------------- results


@dataclasses.dataclass(frozen=True)
class Frame:
    """Ethernet and IPv4 addressing of one received DHCP server->client frame."""

    src_mac: str
    dst_mac: str
    src_ip: IPv4Address
    dst_ip: IPv4Address


#: Prints "src_mac dst_mac src_ip dst_ip" per inbound UDP 67->68 frame on argv[1].
_SNIFFER = """
import signal, socket, struct, sys
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
s.bind((sys.argv[1], 0))
print("ready", flush=True)
while True:
    frame, addr = s.recvfrom(65535)
    if addr[2] == socket.PACKET_OUTGOING or len(frame) < 42 or frame[23] != 17:
        continue
    ihl = (frame[14] & 15) * 4
    sport, dport = struct.unpack("!HH", frame[14 + ihl : 18 + ihl])
    if (sport, dport) == (67, 68):
        print(frame[6:12].hex(":"), frame[0:6].hex(":"),
              socket.inet_ntoa(frame[26:30]), socket.inet_ntoa(frame[30:34]), flush=True)
"""


#: Sends the frames of a JSON request on argv[1] on their schedule and meanwhile prints
#: every inbound server reply, RA or NA ("seconds-after-the-first-send hex"), until
#: `wait` s after the last send or once `count` of them arrived. Stdlib only: it
#: starts in a few tens of milliseconds.
_EXCHANGER = (
    _IS_REPLY
    + """
import json, select, socket, struct, sys, time
req = json.loads(sys.stdin.read())
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((sys.argv[1], 0))
schedule, at = [], 0.0
for gap, hexa in req["frames"]:
    at += gap
    schedule.append((at, bytes.fromhex(hexa)))
start = time.monotonic()
deadline = at + req["wait"]
limit = req["count"] or 1 << 30
got = 0
while got < limit:
    now = time.monotonic() - start
    while schedule and schedule[0][0] <= now:
        s.send(schedule.pop(0)[1])
    until = min(schedule[0][0], deadline) if schedule else deadline
    if now >= deadline:
        break
    if not select.select([s], [], [], max(0.0, until - now))[0]:
        continue
    frame, addr = s.recvfrom(65535)
    if addr[2] != socket.PACKET_OUTGOING and is_reply(frame):
        print(f"{time.monotonic() - start:.6f} {frame.hex()}", flush=True)
        got += 1
"""
)


@dataclasses.dataclass(frozen=True)
class Received:
    """A frame a VM received during `VM.exchange`, `at` seconds after the first send."""

    at: float
    data: bytes


@dataclasses.dataclass(frozen=True)
class QueueStats:
    """One line of /proc/net/netfilter/nfnetlink_queue."""

    queue: int
    portid: int
    waiting: int
    dropped: int
    user_dropped: int
    id_sequence: int


@dataclasses.dataclass(frozen=True)
class Lease:
    """What a client was offered and accepted, from the variables its script received."""

    address: IPv4Interface
    routers: tuple[IPv4Address, ...]
    dns: tuple[IPv4Address, ...]
    domain: str | None
    search: tuple[str, ...]
    hostname: str | None
    mtu: int | None
    lease_time: int | None
    server_id: IPv4Address | None


@dataclasses.dataclass(frozen=True)
class Applied:
    """What the VM's kernel and files look like after the client configured them."""

    addresses: tuple[IPv4Interface, ...]
    default_gateway: IPv4Address | None
    link_mtu: int
    route_mtu: int | None  # dhcpcd applies option 26 to its routes, not to the link
    nameservers: tuple[IPv4Address, ...]
    search: tuple[str, ...]  # `search` and `domain` lines of the VM's resolv.conf
    hostname: str


@dataclasses.dataclass(frozen=True)
class ClientRun:
    client: str
    returncode: int
    elapsed: float
    output: str
    env: Mapping[str, str]  # the script environment of the "bound" event, empty if none
    lease: Lease | None
    applied: Applied | None  # None for udhcpc, whose script only records
    rundir: Path | None = None  # env.<reason>, addr.json, route6.json, leases, client.log

    def events(self) -> dict[str, dict[str, str]]:
        """Every script event the client ran (the last environment of each), by reason."""
        if self.rundir is None:
            return {}
        return {p.name[4:]: _read_env(p) for p in sorted(self.rundir.glob("env.*"))}

    def describe(self) -> str:
        return f"{self.client} rc={self.returncode} in {self.elapsed:.2f}s:\n{self.output}"


@dataclasses.dataclass(frozen=True)
class ExchangeStats:
    sent: int
    received: int
    drops: int


@dataclasses.dataclass(frozen=True)
class PerfdhcpReport:
    returncode: int
    output: str
    rate: float | None
    exchanges: Mapping[str, ExchangeStats]  # "DISCOVER-OFFER", "REQUEST-ACK"


def _addresses(values: str) -> tuple[IPv4Address, ...]:
    return tuple(IPv4Address(v) for v in values.split())


def _lease_from(env: Mapping[str, str], names: Mapping[str, str]) -> Lease | None:
    """Build a Lease from a script environment, `names` mapping field -> variable."""
    get = {field: env.get(var, "").strip() for field, var in names.items()}
    if not get["ip"] or not get["mask"]:
        return None
    return Lease(
        address=IPv4Interface(f"{get['ip']}/{get['mask']}"),
        routers=_addresses(get["routers"]),
        dns=_addresses(get["dns"]),
        domain=get["domain"] or None,
        search=tuple(get["search"].split()),
        hostname=get["hostname"] or None,
        mtu=int(get["mtu"]) if get["mtu"] else None,
        lease_time=int(get["lease"]) if get["lease"] else None,
        server_id=IPv4Address(get["server"]) if get["server"] else None,
    )


_UDHCPC_VARS = {
    "ip": "ip",
    "mask": "subnet",
    "routers": "router",
    "dns": "dns",
    "domain": "domain",
    "search": "search",
    "hostname": "hostname",
    "mtu": "mtu",
    "lease": "lease",
    "server": "serverid",
}
#: ISC dhclient and dhcpcd share dhclient-script's variable names.
_NEW_VARS = {
    "ip": "new_ip_address",
    "mask": "new_subnet_mask",
    "routers": "new_routers",
    "dns": "new_domain_name_servers",
    "domain": "new_domain_name",
    "search": "new_domain_search",
    "hostname": "new_host_name",
    "mtu": "new_interface_mtu",
    "lease": "new_dhcp_lease_time",
    "server": "new_dhcp_server_identifier",
}


def _read_env(path: Path) -> dict[str, str]:
    """Parse `env -0` output."""
    try:
        raw = path.read_bytes().decode(errors="replace")
    except OSError:
        return {}
    pairs = (item.partition("=") for item in raw.split("\0") if "=" in item)
    return {key: value for key, _, value in pairs}


def _read_applied(rundir: Path) -> Applied | None:
    try:
        links: list[dict[str, Any]] = json.loads((rundir / "addr.json").read_text())
        routes: list[dict[str, Any]] = json.loads((rundir / "route.json").read_text())
        resolv = (rundir / "resolv.conf").read_text()
        hostname = (rundir / "hostname").read_text().strip()
    except (OSError, ValueError):
        return None
    link = links[0]
    addresses = tuple(
        IPv4Interface(f"{info['local']}/{info['prefixlen']}")
        for info in link.get("addr_info", [])
        if info.get("family") == "inet"
    )
    gateway: IPv4Address | None = None
    route_mtu: int | None = None
    for route in routes:
        if route.get("dst") == "default" and "gateway" in route:
            gateway = IPv4Address(route["gateway"])
            for metric in route.get("metrics", []):
                if isinstance(metric, dict) and "mtu" in metric:
                    route_mtu = int(metric["mtu"])
    nameservers: list[IPv4Address] = []
    search: list[str] = []
    for line in resolv.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver":
            with contextlib.suppress(ValueError):
                nameservers.append(IPv4Address(words[1]))
        elif words and words[0] in ("search", "domain"):
            search.extend(w for w in words[1:] if w not in search)
    return Applied(
        addresses=addresses,
        default_gateway=gateway,
        link_mtu=int(link["mtu"]),
        route_mtu=route_mtu,
        nameservers=tuple(nameservers),
        search=tuple(search),
        hostname=hostname,
    )


@dataclasses.dataclass(frozen=True)
class Address6:
    """One IPv6 address of a VM interface, from `ip -j -6 addr`."""

    interface: IPv6Interface
    scope: str  # "link", "global"
    flags: frozenset[str]  # "tentative", "dadfailed", "dynamic", "mngtmpaddr", ...


@dataclasses.dataclass(frozen=True)
class Route6:
    """One IPv6 route, from `ip -j -6 route`."""

    dst: str  # "default" or a prefix
    gateway: IPv6Address | None
    dev: str
    protocol: str | None  # "ra" for routes learnt from Router Advertisements
    mtu: int | None


def parse_addresses6(links: list[dict[str, Any]]) -> tuple[Address6, ...]:
    return tuple(
        Address6(
            IPv6Interface(f"{info['local']}/{info['prefixlen']}"),
            str(info.get("scope")),
            frozenset(key for key, value in info.items() if value is True),
        )
        for link in links
        for info in link.get("addr_info", [])
        if info.get("family") == "inet6"
    )


def parse_routes6(routes: list[dict[str, Any]]) -> tuple[Route6, ...]:
    out = []
    for route in routes:
        mtu = None
        for metric in route.get("metrics", []):
            if isinstance(metric, dict) and "mtu" in metric:
                mtu = int(metric["mtu"])
        gateway = IPv6Address(route["gateway"]) if "gateway" in route else None
        out.append(Route6(route["dst"], gateway, route.get("dev", ""), route.get("protocol"), mtu))
    return tuple(out)


@dataclasses.dataclass(frozen=True)
class PrefixInfo:
    """A Prefix Information option as rdisc6 prints it."""

    prefix: IPv6Interface  # rdisc6 prints the router address when the R flag is set
    on_link: bool
    autonomous: bool
    valid: int
    preferred: int


@dataclasses.dataclass(frozen=True)
class RouterAdvert:
    """What `rdisc6` printed for the first Router Advertisement it received."""

    managed: bool
    other: bool
    router_lifetime: int
    source_mac: str | None
    mtu: int | None
    prefixes: tuple[PrefixInfo, ...]
    rdnss: tuple[IPv6Address, ...]
    rdnss_lifetime: int | None
    dnssl: tuple[str, ...]
    dnssl_lifetime: int | None
    source: IPv6Address


def parse_rdisc6(output: str) -> RouterAdvert | None:
    """rdisc6 prints `Key : value` lines; options are indented, their details more."""
    fields: dict[str, str] = {}
    prefixes: list[dict[str, str]] = []
    rdnss: list[IPv6Address] = []
    dnssl: list[str] = []
    source: IPv6Address | None = None
    for line in output.splitlines():
        if line.startswith(" from "):
            source = IPv6Address(line.split()[1])
            break  # only the first advertisement
        key, sep, value = line.partition(":")
        if not sep or key.strip() == "Target link-layer address":
            continue
        key, value = key.strip(), value.strip()
        if key == "Source link-layer address":  # the value has colons of its own
            fields[key] = line.split(":", 1)[1].strip().lower()
        elif key == "Prefix":
            prefixes.append({})
            prefixes[-1][key] = value
        elif key in ("On-link", "Autonomous address conf.", "Valid time", "Pref. time"):
            prefixes[-1][key] = value
        elif key == "Recursive DNS server":
            rdnss.append(IPv6Address(value))
        elif key == "DNS search list":
            dnssl.extend(value.split())
        else:
            fields[key] = value
    if source is None:
        return None

    def number(text: str | None) -> int | None:
        return int(text.split()[0]) if text and text.split()[0].isdigit() else None

    return RouterAdvert(
        managed=fields["Stateful address conf."] == "Yes",
        other=fields["Stateful other conf."] == "Yes",
        router_lifetime=number(fields["Router lifetime"]) or 0,
        source_mac=fields.get("Source link-layer address"),
        mtu=number(fields.get("MTU")),
        prefixes=tuple(
            PrefixInfo(
                IPv6Interface(p["Prefix"]),
                p["On-link"] == "Yes",
                p["Autonomous address conf."] == "Yes",
                number(p["Valid time"]) or 0,
                number(p["Pref. time"]) or 0,
            )
            for p in prefixes
        ),
        rdnss=tuple(rdnss),
        rdnss_lifetime=number(fields.get("DNS servers lifetime")),
        dnssl=tuple(dnssl),
        dnssl_lifetime=number(fields.get("DNS search list lifetime")),
        source=source,
    )


def eui64(prefix: IPv6Network | str, mac: str) -> IPv6Address:
    """The modified EUI-64 address of `mac` in a /64 (RFC 4291 appendix A)."""
    octets = bytes.fromhex(mac.replace(":", ""))
    iid = bytes((octets[0] ^ 0x02,)) + octets[1:3] + b"\xff\xfe" + octets[3:6]
    return IPv6Address(IPv6Network(prefix).network_address.packed[:8] + iid)


def link_local(mac: str) -> IPv6Address:
    return eui64("fe80::/64", mac)


_PERF_SECTION = re.compile(r"\*\*\*Statistics for: (\S+)\*\*\*")
_PERF_FIELD = re.compile(r"^(sent packets|received packets|drops): (\d+)\s*$")
_PERF_RATE = re.compile(r"^Rate: ([\d.]+) ")


def parse_perfdhcp(output: str, returncode: int = 0) -> PerfdhcpReport:
    exchanges: dict[str, ExchangeStats] = {}
    rate: float | None = None
    section: str | None = None
    fields: dict[str, int] = {}

    def flush() -> None:
        if section and {"sent packets", "received packets", "drops"} <= fields.keys():
            exchanges[section] = ExchangeStats(
                fields["sent packets"], fields["received packets"], fields["drops"]
            )

    for line in output.splitlines():
        if m := _PERF_SECTION.search(line):
            flush()
            section, fields = m.group(1), {}
        elif (m := _PERF_FIELD.match(line)) and section:
            fields[m.group(1)] = int(m.group(2))
        elif m := _PERF_RATE.match(line):
            rate = float(m.group(1))
    flush()
    return PerfdhcpReport(returncode, output, rate, exchanges)


# ----------------------------------------------------------------------------- bindings


@dataclasses.dataclass(frozen=True)
class BindingSpec:
    """The content of one binding file (GRNET keys plus the per-binding DNS/DOMAIN)."""

    mac: str
    ip: str | None = None
    subnet: str | None = None
    gateway: str | None = None
    hostname: str | None = None
    indev: str | None = None
    mtu: int | None = None
    dns: Sequence[str] | None = None
    domain: str | None = None
    private: bool = False
    macspoof: bool = False
    extra: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def render(self) -> str:
        values: dict[str, str] = {
            "INDEV": self.indev or "",
            "MAC": self.mac,
            "IP": self.ip or "",
            "HOSTNAME": self.hostname or "",
            "SUBNET": self.subnet or "",
            "GATEWAY": self.gateway or "",
            "MTU": str(self.mtu) if self.mtu else "",
            "PRIVATE": "yes" if self.private else "",
            "MACSPOOF": "yes" if self.macspoof else "",
        }
        if self.dns is not None:
            values["DNS"] = " ".join(self.dns)
        if self.domain is not None:
            values["DOMAIN"] = self.domain
        values.update(self.extra)
        # Empty values bare (`PRIVATE=`), as Ganeti's hook writes them; others shell-quoted.
        return "".join(
            f"{key}={shlex.quote(value) if value else ''}\n" for key, value in values.items()
        )


def write_file_atomically(path: Path, text: str) -> None:
    """Write `.name.tmp` next to `path`, then rename it over `path` (one IN_MOVED_TO)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.chmod(tmp, 0o644)
    os.rename(tmp, path)


# ------------------------------------------------------------------------------- daemon


@dataclasses.dataclass(frozen=True)
class DaemonDirs:
    """Per-daemon paths under the hypervisor's work directory."""

    root: Path

    @property
    def datapath(self) -> Path:
        return self.root / "bindings"

    @property
    def logdir(self) -> Path:
        return self.root / "log"

    @property
    def pidfile(self) -> Path:
        return self.root / "run" / "nfdhcpd.pid"

    @property
    def config(self) -> Path:
        return self.root / "nfdhcpd.conf"

    def grnet_paths(self, text: str) -> str:
        """A GRNET sample config with its three default paths (pidfile, datapath,
        logdir, each written once) replaced by these."""
        for old, new in (
            ("/var/run/nfdhcpd/nfdhcpd.pid", self.pidfile),
            ("/var/lib/nfdhcpd", self.datapath),
            ("/var/log/nfdhcpd", self.logdir),
        ):
            assert text.count(old) == 1, old
            text = text.replace(old, str(new))
        return text

    def create(self, user: str = "nobody") -> None:
        # The daemon reads bindings after dropping to `user`: make them world-readable,
        # and let it write its log and pid directories.
        pw = pwd.getpwnam(user)
        for path in (self.root, self.datapath):
            path.mkdir(mode=0o755, exist_ok=True)
            path.chmod(0o755)
        for path in (self.logdir, self.pidfile.parent):
            path.mkdir(mode=0o755, exist_ok=True)
            os.chown(path, pw.pw_uid, pw.pw_gid)


def render_config(
    dirs: DaemonDirs,
    *,
    server_ip: str = "192.0.2.1",
    nameservers: Sequence[str] = ("192.0.2.2", "192.0.2.3"),
    domain: str = "example.com",
    queue: int = 42,
    lease_lifetime: int = 604800,
    lease_renewal: int = 3600,
    user: str = "nobody",
    general: Mapping[str, str] | None = None,
    extra_dhcp: Mapping[str, str] | None = None,
    ipv6: Mapping[str, str] | None = None,
) -> str:
    """The daemon's config; `ipv6` None disables IPv6, else it holds [ipv6] keys."""
    dhcp = {
        "enable_dhcp": "yes",
        "lease_lifetime": str(lease_lifetime),
        "lease_renewal": str(lease_renewal),
        "server_ip": server_ip,
        "server_on_link": "no",
        "dhcp_queue": str(queue),
        "nameservers": ", ".join(nameservers),
        "domain": domain,
        **(extra_dhcp or {}),
    }
    lines = [
        "[general]",
        f"pidfile = {dirs.pidfile}",
        f"datapath = {dirs.datapath}",
        f"logdir = {dirs.logdir}",
        f"user = {user}",
        *(f"{key} = {value}" for key, value in (general or {}).items()),
        "",
        "[dhcp]",
        *(f"{key} = {value}" for key, value in dhcp.items()),
        "",
        "[ipv6]",
        *(
            ["enable_ipv6 = no"]
            if ipv6 is None
            else [f"{key} = {value}" for key, value in {"enable_ipv6": "yes", **ipv6}.items()]
        ),
        "",
    ]
    return "\n".join(lines)


class Daemon:
    """nfdhcpd in the foreground inside a hypervisor namespace."""

    def __init__(self, hv: Hypervisor, dirs: DaemonDirs, process: Process, queues: Sequence[int]):
        self.hv = hv
        self.dirs = dirs
        self.process = process
        self.queues = tuple(queues)

    @property
    def datapath(self) -> Path:
        return self.dirs.datapath

    def alive(self) -> bool:
        return self.process.alive()

    def log(self) -> str:
        return self.process.log()

    def stop(self, timeout: float = 10.0) -> int:
        return self.process.stop(timeout)

    def binding_path(self, tap: str) -> Path:
        return self.datapath / tap

    def write_binding(self, tap: str, binding: BindingSpec | str, *, atomic: bool = True) -> Path:
        text = binding.render() if isinstance(binding, BindingSpec) else binding
        path = self.binding_path(tap)
        if atomic:
            write_file_atomically(path, text)
        else:  # open, write, close in place: the daemon sees IN_CLOSE_WRITE
            path.write_text(text)
        return path

    def remove_binding(self, tap: str) -> None:
        self.binding_path(tap).unlink(missing_ok=True)

    def counters(self, timeout: float = 5.0) -> dict[str, int]:
        """SIGUSR1 the daemon and parse the `counters: a=1, b=2` line it logs."""
        offset = len(self.log())
        self.process.signal(signal.SIGUSR1)
        match = wait_for(
            lambda: re.search(r"counters: (.*)\n", self.log()[offset:]),
            timeout=timeout,
            what="the counter dump",
        )
        assert match is not None  # wait_for returns only a truthy value
        pairs = (item.partition("=") for item in match.group(1).split(", ") if item)
        return {key: int(value) for key, _, value in pairs}


# ---------------------------------------------------------------------------- hypervisor


class Hypervisor:
    """A hypervisor namespace, its VMs and processes; a context manager that cleans up."""

    def __init__(self, label: str = "hv", *, name: str | None = None, capture: bool = True) -> None:
        """`capture`: record the replies for the tshark oracle (the benchmarks do not:
        at thousands of packets a second the capturer would take a core of its own)."""
        self._cleanup = contextlib.ExitStack()
        self.vms: dict[str, VM] = {}
        self.processes: list[Process] = []
        self.bridge: str | None = None
        # VM namespaces are named after this one, so a wrapper can sweep them all by prefix.
        self.name = name or unique_name(label)
        self._vm_serial = 0
        try:
            workdir = Path(tempfile.mkdtemp(prefix=f"{self.name}-"))
            self._cleanup.callback(self._remove_workdir, workdir)
            workdir.chmod(0o755)  # the daemon runs as nobody and must reach its datapath
            self.workdir = workdir
            run(["ip", "netns", "add", self.name])
            self._cleanup.callback(run, ["ip", "netns", "delete", self.name], check=False)
            self.ip("link", "set", "lo", "up")
            self._captures = 0
            self._capture: Process | None = None
            if capture and oracle.tshark() is not None:
                self._start_capture()
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Hypervisor:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        findings = self.check_capture(restart=False) if exc_type is None else []
        self.close()
        if findings:
            raise AssertionError(oracle.report(findings, f"replies sent in {self.name}"))

    # -- the tshark oracle (tests/oracle.py) over every reply sent towards the VMs

    def _capture_path(self) -> Path:
        return self.workdir / f"capture-{self._captures:03d}.pcap"

    def _start_capture(self) -> None:
        """Capture the replies sent on every interface of this namespace (also those
        made later: an unbound packet socket sees them all)."""
        self._captures += 1
        argv = [sys.executable, "-c", _CAPTURER, str(self._capture_path())]
        proc = self.spawn(f"capture{self._captures}", argv)
        wait_for(
            lambda: "ready" in proc.log() or not proc.alive(), timeout=10, what="capture start"
        )
        if not proc.alive():
            raise TestbedError(f"capture failed: {proc.log()}")
        self._capture = proc

    def check_capture(self, *, restart: bool = True) -> list[str]:
        """Stop the capture, have tshark judge the replies in it, start a new one;
        a line per Malformed mark or warning/error Expert Info item."""
        proc = self._capture
        if proc is None:
            return []
        self._capture = None
        proc.stop()
        path = self._capture_path()
        findings = []
        if path.exists():
            findings = [str(f) for f in oracle.check_pcap(path)]
            if findings:
                # Keep the evidence: the work directory goes at close().
                kept = Path(tempfile.gettempdir()) / "nfdt-captures" / f"{self.name}-{path.name}"
                kept.parent.mkdir(exist_ok=True)
                shutil.copy(path, kept)
                findings.append(f"capture kept as {kept}")
        if restart:
            self._start_capture()
        return findings

    def close(self) -> None:
        """Undo everything, newest first; safe to call twice."""
        self._cleanup.close()

    @staticmethod
    def _remove_workdir(workdir: Path) -> None:
        if os.environ.get("NFDT_KEEP_WORKDIR"):
            print(f"testbed: keeping {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    # -- commands inside the hypervisor namespace

    def exec(
        self, *args: str, timeout: float = 30.0, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return run(["ip", "netns", "exec", self.name, *args], timeout=timeout, check=check)

    def ip(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run(["ip", "-n", self.name, *args], check=check)

    def iptables(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.exec("iptables", "-w", *args)

    def ip6tables(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.exec("ip6tables", "-w", *args)

    def spawn(self, name: str, args: Sequence[str], *, ns: str | None = None) -> Process:
        """Start a background process in this (or a VM's) namespace, stopped at cleanup."""
        log_path = self.workdir / f"{len(self.processes):02d}-{name}.log"
        proc = Process(name, ["ip", "netns", "exec", ns or self.name, *args], log_path)
        self._cleanup.callback(proc.stop)
        self.processes.append(proc)
        return proc

    def mac(self, dev: str) -> str:
        info: list[dict[str, Any]] = json.loads(self.ip("-j", "link", "show", dev).stdout)
        return str(info[0]["address"])

    # -- links

    def add_bridge(self, name: str = "br0", address: IPv4Interface | None = None) -> None:
        """A Linux bridge whose IPv4/IPv6 traffic traverses iptables (br_netfilter)."""
        # br_netfilter is built in on some kernels; modprobe failing is fine if the
        # sysctls exist once a bridge does (checked by sysctl below).
        run(["modprobe", "br_netfilter"], check=False)
        # A fixed MAC, as a bridge carrying the host's NIC has: left automatic, Linux
        # gives a bridge the lowest MAC of its ports, so it would change with every TAP.
        mac = "02:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(5))
        self.ip("link", "add", name, "address", mac, "type", "bridge")
        # No IPv6 address of its own: nfdhcpd answers from the bridge's link-local.
        self.ip("link", "set", name, "addrgenmode", "none")
        self.ip("link", "set", name, "up")
        self.exec(
            "sysctl",
            "-q",
            "-w",
            "net.bridge.bridge-nf-call-iptables=1",
            "net.bridge.bridge-nf-call-ip6tables=1",
        )
        if address is not None:
            self.ip("addr", "add", str(address), "dev", name)
        self.bridge = name

    def add_vm(
        self,
        tap: str,
        mac: str,
        *,
        bridged: bool = False,
        create_link: bool = True,
        sysctls6: Mapping[str, str] | None = None,
    ) -> VM:
        """A VM namespace, and (unless `create_link` is false) its TAP.

        `sysctls6` are set as `net.ipv6.conf.eth0.<key>` in the VM before its link is up.
        """
        if bridged and self.bridge is None:
            raise TestbedError("add_bridge() first")
        self._vm_serial += 1
        ns = f"{self.name}-vm{self._vm_serial}"
        run(["ip", "netns", "add", ns])
        self._cleanup.callback(run, ["ip", "netns", "delete", ns], check=False)
        # `ip netns exec` bind-mounts /etc/netns/<ns>/* over /etc: a private resolv.conf
        # for the clients' scripts to write instead of the machine's.
        etc = ETC_NETNS / ns
        etc.mkdir(parents=True)
        self._cleanup.callback(_remove_etc_netns, etc)
        vm = VM(self, ns, tap, mac.lower(), bridged=bridged, sysctls6=dict(sysctls6 or {}))
        vm.reset_resolv_conf()
        run(["ip", "-n", ns, "link", "set", "lo", "up"])
        self.vms[tap] = vm
        if create_link:
            self.create_link(vm)
        return vm

    def create_link(self, vm: VM) -> int:
        """(Re)create the veth pair `vm.tap` <-> `eth0`; return the TAP's ifindex."""
        self.ip("link", "add", vm.tap, "type", "veth", "peer", "name", vm.ifname, "netns", vm.ns)
        run(["ip", "-n", vm.ns, "link", "set", vm.ifname, "address", vm.mac])
        if vm.bridged:
            assert self.bridge is not None
            self.ip("link", "set", vm.tap, "master", self.bridge)
        # IPv6 stays enabled (the kernel drops IPv6 before netfilter otherwise), but the
        # host side gets no link-local address, as README "iptables rules" advises.
        self.ip("link", "set", vm.tap, "addrgenmode", "none")
        if vm.sysctls6:
            settings = [f"net.ipv6.conf.{vm.ifname}.{k}={v}" for k, v in vm.sysctls6.items()]
            vm.exec("sysctl", "-q", "-w", *settings)
        self.ip("link", "set", vm.tap, "up")
        run(["ip", "-n", vm.ns, "link", "set", vm.ifname, "up"])
        return self.ifindex(vm.tap)

    def delete_link(self, vm: VM) -> None:
        self.ip("link", "delete", vm.tap)

    def remove_vm(self, vm: VM) -> None:
        """Delete the VM's TAP and namespace now rather than at close()."""
        self.ip("link", "delete", vm.tap, check=False)
        run(["ip", "netns", "delete", vm.ns], check=False)
        _remove_etc_netns(ETC_NETNS / vm.ns)
        self.vms.pop(vm.tap, None)

    def ifindex(self, dev: str) -> int:
        info: list[dict[str, Any]] = json.loads(self.ip("-j", "link", "show", dev).stdout)
        return int(info[0]["ifindex"])

    def add_address(self, dev: str, address: IPv4Interface) -> None:
        self.ip("addr", "add", str(address), "dev", dev)

    # -- netfilter

    def add_ipv6_rules(self, mode: Mode, queues: Sequence[int] = QUEUES6) -> None:
        """The ip6tables rules of README "iptables rules": RS, NS, DHCPv6 to the queues."""
        match_in = ["-i", "tap+"] if mode == "routed" else ["-m", "physdev", "--physdev-in", "tap+"]
        rs, ns, dhcpv6 = queues
        for match, queue in (
            (["-p", "ipv6-icmp", "--icmpv6-type", "133"], rs),
            (["-p", "ipv6-icmp", "--icmpv6-type", "135"], ns),
            (["-p", "udp", "--dport", "547"], dhcpv6),
        ):
            self.ip6tables(
                "-t", "mangle", "-A", "PREROUTING", *match_in, *match,
                "-j", "NFQUEUE", "--queue-num", str(queue), "--queue-bypass",
            )  # fmt: skip

    def rule6_packets(self, queue: int) -> int:
        """Packets matched so far by the ip6tables NFQUEUE rules for `queue`."""
        listing = self.ip6tables("-t", "mangle", "-L", "PREROUTING", "-n", "-v", "-x").stdout
        return sum(
            int(line.split()[0])
            for line in listing.splitlines()
            if re.search(rf"NFQUEUE num {queue}\b", line)
        )

    def add_dhcp_rule(self, mode: Mode, queue: int = 42) -> None:
        """The rule an admin adds for nfdhcpd (README: "iptables rules")."""
        match_in = ["-i", "tap+"] if mode == "routed" else ["-m", "physdev", "--physdev-in", "tap+"]
        self.iptables(
            "-t", "mangle", "-A", "PREROUTING", *match_in, "-p", "udp", "--dport", "67",
            "-j", "NFQUEUE", "--queue-num", str(queue), "--queue-bypass",
        )  # fmt: skip

    def rule_packets(self, queue: int = 42) -> int:
        """Packets matched so far by the NFQUEUE rules for `queue`."""
        listing = self.iptables("-t", "mangle", "-L", "PREROUTING", "-n", "-v", "-x").stdout
        return sum(
            int(line.split()[0])
            for line in listing.splitlines()
            if re.search(rf"NFQUEUE num {queue}\b", line)
        )

    def queue_stats(self) -> dict[int, QueueStats]:
        """The NFQUEUE queues bound in this namespace (read inside it)."""
        text = self.exec("cat", PROC_QUEUES, check=False).stdout
        stats: dict[int, QueueStats] = {}
        for line in text.splitlines():
            f = [int(x) for x in line.split()]
            if len(f) >= 8:
                stats[f[0]] = QueueStats(f[0], f[1], f[2], f[5], f[6], f[7])
        return stats

    # -- servers

    def start_daemon(
        self,
        config: str | Callable[[DaemonDirs], str] = render_config,
        *,
        queues: Sequence[int] = (42,),
        debug: bool = False,
        timeout: float = 20.0,
        executable: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Daemon:
        """Run `nfdhcpd -f -c CONFIG` here (with `env` added to its environment);
        return once its queues are bound."""
        exe = executable or nfdhcpd_executable()
        if exe is None:
            raise TestbedError("nfdhcpd not found: run scripts/setup or set $NFDHCPD")
        dirs = DaemonDirs(self.workdir / unique_name("nfdhcpd"))
        dirs.create()
        dirs.config.write_text(config(dirs) if callable(config) else config)
        args = [str(exe), "-f", "-c", str(dirs.config), *(["-d"] if debug else [])]
        if env:  # env(1) execs nfdhcpd: the process keeps its PID
            args = ["env", *(f"{key}={value}" for key, value in env.items()), *args]
        daemon = Daemon(self, dirs, self.spawn("nfdhcpd", args), queues)

        def ready() -> bool:
            if not daemon.alive():
                raise TestbedError(
                    f"nfdhcpd exited {daemon.process.popen.returncode} during start-up:\n"
                    + daemon.log()
                )
            return set(queues) <= self.queue_stats().keys()

        try:
            wait_for(ready, timeout=timeout, what=f"nfdhcpd to bind queues {list(queues)}")
        except TimeoutError as exc:
            raise TestbedError(f"{exc}; log:\n{daemon.log()}") from None
        return daemon

    def start_dnsmasq(
        self,
        interface: str,
        *,
        hosts: Mapping[str, str] | None = None,
        network: IPv4Interface = PASSTHROUGH_NET,
        timeout: float = 10.0,
    ) -> Process:
        """dnsmasq as 'the other DHCP server on the host', DHCP only, on `interface`.

        `hosts` maps MAC -> reserved IP, so a test knows exactly which lease to expect.
        """
        net = network.network
        args = [
            "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0", "--log-dhcp",
            "--leasefile-ro", "--bind-interfaces", f"--interface={interface}",
            f"--dhcp-range={net[200]},{net[250]},{net.netmask},1h",
            *(f"--dhcp-host={mac},{ip}" for mac, ip in (hosts or {}).items()),
        ]  # fmt: skip
        before = self._udp_port_listeners(67)
        proc = self.spawn(unique_name("dnsmasq"), args)

        def ready() -> bool:
            if not proc.alive():
                raise TestbedError(f"dnsmasq exited during start-up:\n{proc.log()}")
            return self._udp_port_listeners(67) > before

        wait_for(ready, timeout=timeout, what="dnsmasq to bind port 67")
        return proc

    def _udp_port_listeners(self, port: int) -> int:
        text = self.exec("cat", "/proc/net/udp").stdout
        return sum(1 for line in text.splitlines()[1:] if line.split()[1].endswith(f":{port:04X}"))


# ----------------------------------------------------------------------------------- VM


@dataclasses.dataclass
class VM:
    """A VM namespace whose `eth0` is the far end of the hypervisor's `tap`."""

    hv: Hypervisor
    ns: str
    tap: str
    mac: str
    bridged: bool = False
    ifname: str = "eth0"
    sysctls6: dict[str, str] = dataclasses.field(default_factory=dict)
    _runs: int = 0

    def exec(
        self, *args: str, timeout: float = 30.0, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return run(["ip", "netns", "exec", self.ns, *args], timeout=timeout, check=check)

    def ip(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run(["ip", "-n", self.ns, *args])

    def reset_resolv_conf(self) -> None:
        (ETC_NETNS / self.ns / "resolv.conf").write_text("# nfdt: no DHCP client ran yet\n")

    def reset(self) -> None:
        """Forget what a previous client configured, so a run shows only its own work."""
        self.ip("-4", "addr", "flush", "dev", self.ifname)
        self.ip("-4", "route", "flush", "table", "main")
        self.ip("link", "set", self.ifname, "mtu", "1500")
        self.reset_resolv_conf()

    def add_address(self, address: IPv4Interface) -> None:
        self.ip("addr", "add", str(address), "dev", self.ifname)

    # -- clients

    def udhcpc(self, *, tries: int = 3, interval: int = 1, broadcast: bool = False) -> ClientRun:
        """busybox udhcpc: DISCOVER up to `tries` times, `interval` s apart; exits either way.

        Its script only records the environment, so nothing is configured.
        """
        script = '#!/bin/sh\nenv -0 > "${0%/*}/env.$1"\n'
        args = [
            "udhcpc", "-i", self.ifname, "-n", "-q", "-f", "-t", str(tries), "-T", str(interval),
            "-s", "{script}", "-O", "mtu", "-O", "hostname", "-O", "domain", "-O", "search",
            *(["-B"] if broadcast else []),
        ]  # fmt: skip
        budget = tries * interval + 5
        return self._run_client("udhcpc", args, script, "bound", _UDHCPC_VARS, budget)

    def dhclient(self, *, timeout: int = 10) -> ClientRun:
        """ISC dhclient with Debian's dhclient.conf and real dhclient-script (which
        configures address, routes, MTU, resolv.conf and hostname)."""
        script = f'#!/bin/sh\nenv -0 > "${{0%/*}}/env.$reason"\nexec {DHCLIENT_SCRIPT} "$@"\n'
        try:
            conf = Path("/etc/dhcp/dhclient.conf").read_text()
        except OSError:
            conf = ""
        conf += f"\n# nfdt: give up quickly when nobody answers\ntimeout {timeout};\n"
        args = [
            "dhclient", "-1", "-v", "-cf", "{dir}/dhclient.conf", "-lf", "{dir}/leases",
            "-pf", "{dir}/client.pid", "-sf", "{script}", self.ifname,
        ]  # fmt: skip
        return self._run_client(
            "dhclient", args, script, "BOUND", _NEW_VARS, timeout + 5, {"dhclient.conf": conf}
        )

    def dhcpcd(self, *, timeout: int = 10) -> ClientRun:
        """dhcpcd 9 in one-shot IPv4 mode; its hooks write resolv.conf and the hostname.
        --noarp skips the 5 s duplicate-address probe that would dominate test time."""
        script = f'#!/bin/sh\nenv -0 > "${{0%/*}}/env.$reason"\nexec {DHCPCD_HOOKS} "$@"\n'
        args = [
            "dhcpcd", "-4", "-1", "-B", "--noarp", "-t", str(timeout), "-c", "{script}",
            self.ifname,
        ]  # fmt: skip
        return self._run_client("dhcpcd", args, script, "BOUND", _NEW_VARS, timeout + 5)

    def _run_client(
        self,
        client: str,
        args: Sequence[str],
        script: str,
        bound_event: str,
        variables: Mapping[str, str],
        budget: float,
        files: Mapping[str, str] | None = None,
    ) -> ClientRun:
        self.reset()
        self._runs += 1
        rundir = self.hv.workdir / self.ns / f"{self._runs:02d}-{client}"
        rundir.mkdir(parents=True)
        script_path = rundir / "script.sh"
        script_path.write_text(script)
        script_path.chmod(0o755)
        for name, text in (files or {}).items():
            (rundir / name).write_text(text)
        command = shlex.join(
            [a.replace("{script}", str(script_path)).replace("{dir}", str(rundir)) for a in args]
        )
        # Inside the VM's network namespace, run under private mount, UTS and PID
        # namespaces: the clients' scripts may write /run and /var/lib/dhcp* and set the
        # hostname, which tmpfs mounts and a throwaway hostname keep off the machine; and
        # when the wrapper (PID 1 there) ends or `unshare` is killed, the kernel kills
        # whatever the client left behind (dhclient daemonises once bound, dhcpcd forks
        # privilege-separation helpers), so no client outlives its run.
        wrapper = f"""\
set -u
export NFDT_OUT={shlex.quote(str(rundir))}
for d in /run /var/lib/dhcp /var/lib/dhcpcd /var/lib/dhcpv6; do
    if [ -d "$d" ]; then mount -t tmpfs nfdt-client "$d" || exit 97; fi
done
hostname localhost
timeout -k 1 {budget} {command} > "$NFDT_OUT/client.log" 2>&1
rc=$?
hostname > "$NFDT_OUT/hostname"
ip -j addr show dev {self.ifname} > "$NFDT_OUT/addr.json"
ip -j route show table main > "$NFDT_OUT/route.json"
ip -6 -j route show table main > "$NFDT_OUT/route6.json"
cat /etc/resolv.conf > "$NFDT_OUT/resolv.conf"
exit $rc
"""
        unshare = [
            "unshare", "--mount", "--propagation", "private", "--uts",
            "--pid", "--fork", "--kill-child", "--mount-proc",
        ]  # fmt: skip
        # `ip netns exec` execs unshare: killing this PID (as subprocess.run does on a
        # timeout or Ctrl-C) tears the whole PID namespace down.
        argv = ["ip", "netns", "exec", self.ns, *unshare, "sh", "-c", wrapper]
        started = time.monotonic()
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=budget + 10)
            returncode, stderr = proc.returncode, proc.stderr
        except subprocess.TimeoutExpired:
            returncode, stderr = -1, "testbed: the client wrapper itself timed out"
        elapsed = time.monotonic() - started
        output = stderr
        with contextlib.suppress(OSError):
            output = (rundir / "client.log").read_text(errors="replace") + stderr
        env = _read_env(rundir / f"env.{bound_event}")
        return ClientRun(
            client=client,
            returncode=returncode,
            elapsed=elapsed,
            output=output,
            env=env,
            lease=_lease_from(env, variables) if env else None,
            applied=_read_applied(rundir) if client != "udhcpc" else None,
            rundir=rundir,
        )

    @contextlib.contextmanager
    def sniff_dhcp_replies(self) -> Iterator[list[Frame]]:
        """Record the DHCP server->client frames eth0 receives while the block runs.

        The list is filled when the block ends. A plain AF_PACKET socket in the VM
        namespace (no tcpdump here), started before the block and stopped after it.
        """
        frames: list[Frame] = []
        argv = [sys.executable, "-c", _SNIFFER, self.ifname]
        proc = self.hv.spawn(unique_name("sniff"), argv, ns=self.ns)
        wait_for(
            lambda: "ready" in proc.log() or not proc.alive(), timeout=10, what="sniffer start"
        )
        if not proc.alive():
            raise TestbedError(f"sniffer failed: {proc.log()}")
        try:
            yield frames
        finally:
            # Callers end the block once their client has its answer, so the frames are
            # already in the socket; this short grace only lets the sniffer print them.
            time.sleep(0.2)
            proc.stop()
        for line in proc.log().splitlines():
            words = line.split()
            if len(words) == 4:
                src_ip, dst_ip = IPv4Address(words[2]), IPv4Address(words[3])
                frames.append(Frame(words[0], words[1], src_ip, dst_ip))

    def exchange(
        self,
        frames: Sequence[bytes | tuple[float, bytes]],
        *,
        wait: float = 1.0,
        count: int | None = None,
    ) -> list[Received]:
        """Send raw Ethernet frames from eth0 (a `(gap, frame)` pair is sent `gap` s
        after the one before) and return the server replies, RAs and NAs eth0 receives
        until `wait` seconds after the last send, or the first `count` of them.

        The conformance tests craft requests with scapy and judge the replies: nothing
        but the network stands between them and the daemon."""
        items = [f if isinstance(f, tuple) else (0.0, f) for f in frames]
        request = {
            "frames": [(gap, frame.hex()) for gap, frame in items],
            "wait": wait,
            "count": count,
        }
        argv = [sys.executable, "-c", _EXCHANGER, self.ifname]
        budget = wait + sum(gap for gap, _ in items) + 10
        proc = run(
            ["ip", "netns", "exec", self.ns, *argv], stdin=json.dumps(request), timeout=budget
        )
        received = []
        for line in proc.stdout.splitlines():
            at, _, data = line.partition(" ")
            received.append(Received(float(at), bytes.fromhex(data)))
        return received

    def perfdhcp(self, *, rate: int = 1000, seconds: int = 5) -> PerfdhcpReport:
        """Kea's perfdhcp as a one-client relay (giaddr = eth0's address, port 67).

        `-R 1 -b mac=` makes every exchange use this VM's MAC, so the binding matches.
        """
        # -W: after the test period, wait 0.5 s for answers still in flight; without it
        # perfdhcp counts a request sent in the last millisecond as a drop.
        args = [
            "timeout", "-k", "2", str(seconds + 30), "perfdhcp", "-4", "-l", self.ifname,
            "-R", "1", "-b", f"mac={self.mac}", "-r", str(rate), "-p", str(seconds),
            "-W", "500000",
        ]  # fmt: skip
        proc = self.exec(*args, timeout=seconds + 40, check=False)
        return parse_perfdhcp(proc.stdout + proc.stderr, proc.returncode)

    # -- IPv6

    def sysctl(self, name: str) -> str:
        return self.exec("sysctl", "-n", name).stdout.strip()

    def addresses6(self) -> tuple[Address6, ...]:
        return parse_addresses6(
            json.loads(self.ip("-j", "-6", "addr", "show", "dev", self.ifname).stdout)
        )

    def routes6(self) -> tuple[Route6, ...]:
        return parse_routes6(
            json.loads(self.ip("-j", "-6", "route", "show", "table", "main").stdout)
        )

    def default_routes6(self) -> tuple[Route6, ...]:
        return tuple(r for r in self.routes6() if r.dst == "default")

    def wait_address6(self, address: IPv6Address, *, timeout: float = 10.0) -> Address6:
        """Wait until `address` is on eth0 and its duplicate address detection is over
        (no longer tentative, or failed); return it with its flags."""

        def settled() -> Address6 | None:
            for a in self.addresses6():
                if a.interface.ip == address and (
                    "tentative" not in a.flags or "dadfailed" in a.flags
                ):
                    return a
            return None

        try:
            found = wait_for(settled, timeout=timeout, what=f"{address} on {self.ns}", interval=0.1)
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}; addresses now: {self.addresses6()}") from None
        assert found is not None
        return found

    def wait_link_local(self, *, timeout: float = 10.0) -> Address6:
        """eth0's link-local address, once usable (IPv6 clients fail to bind before)."""
        return self.wait_address6(link_local(self.mac), timeout=timeout)

    def rdisc6(self, *, tries: int = 3, wait_ms: int = 1000) -> tuple[RouterAdvert | None, str]:
        """Solicit with ndisc6's rdisc6; the first advertisement parsed, and the output."""
        args = ["rdisc6", "-1", "-r", str(tries), "-w", str(wait_ms), self.ifname]
        proc = self.exec(*args, timeout=tries * wait_ms / 1000 + 10, check=False)
        output = proc.stdout + proc.stderr
        return parse_rdisc6(proc.stdout), output

    def ndisc6(self, target: IPv6Address, *, tries: int = 3, wait_ms: int = 1000) -> str | None:
        """The link-layer address a Neighbor Solicitation for `target` got, lowercase."""
        args = ["ndisc6", "-1", "-r", str(tries), "-w", str(wait_ms), str(target), self.ifname]
        proc = self.exec(*args, timeout=tries * wait_ms / 1000 + 10, check=False)
        for line in proc.stdout.splitlines():
            if line.startswith("Target link-layer address:"):
                return line.split(":", 1)[1].strip().lower()
        return None

    def dhclient6(self, *, stateless: bool, timeout: int = 15) -> ClientRun:
        """ISC `dhclient -6` in the foreground with the real dhclient-script.

        `-S` (stateless) sends an Information-Request and exits once answered; its
        script event is RENEW6, without an address. Stateful, the run ends when the
        script has run for the first renewal (RENEW6), else after `timeout` seconds.
        `events()` holds each script event's environment; `leases` in the run
        directory is the lease file, one `lease6` block per exchange."""
        stop = "" if stateless else 'if [ "$reason" = RENEW6 ]; then kill -TERM "$PPID"; fi\n'
        script = (
            f'#!/bin/sh\nenv -0 > "${{0%/*}}/env.$reason"\n{DHCLIENT_SCRIPT} "$@"\nrc=$?\n'
            f"{stop}exit $rc\n"
        )
        try:
            conf = Path("/etc/dhcp/dhclient.conf").read_text()
        except OSError:
            conf = ""
        args = [
            "dhclient", "-6", *(["-S"] if stateless else []), "-d", "-v",
            "-cf", "{dir}/dhclient.conf", "-lf", "{dir}/leases", "-pf", "{dir}/client.pid",
            "-sf", "{script}", self.ifname,
        ]  # fmt: skip
        return self._run_client(
            "dhclient6", args, script, "RENEW6", _NEW_VARS, timeout, {"dhclient.conf": conf}
        )

    def dhcp6c(self, *, timeout: int = 15) -> ClientRun:
        """WIDE-DHCPv6's dhcp6c (Debian wide-dhcpv6-client) asking for an IA_NA address
        and the DNS options; the run ends once it has put a global address on eth0
        (SIGKILL then, so it cannot Release it), else after `timeout` seconds.

        dhcp6c adds the address itself and calls its script with the DNS options
        (`new_domain_name_servers`, `new_domain_name`): `env.bound` records them."""
        script = '#!/bin/sh\nenv -0 > "${0%/*}/env.bound"\n'
        conf = (
            f"interface {self.ifname} {{\n  send ia-na 1;\n  request domain-name-servers;\n"
            '  request domain-name;\n  script "@SCRIPT@";\n};\nid-assoc na 1 { };\n'
        )
        inner = f"""\
sed -i "s|@SCRIPT@|{{script}}|" {{dir}}/dhcp6c.conf
dhcp6c -f -d -c {{dir}}/dhcp6c.conf -p {{dir}}/dhcp6c.pid {self.ifname} &
i=0
while [ $i -lt {timeout * 10} ]; do
    if ip -6 addr show dev {self.ifname} scope global | grep -v tentative | grep -q inet6; then
        kill -KILL $!
        exit 0
    fi
    sleep 0.1
    i=$((i + 1))
done
kill -KILL $!
exit 1
"""
        # _run_client fills in {dir} and {script} in the arguments, not in files.
        args = ["sh", "-c", inner]
        return self._run_client(
            "dhcp6c",
            args,
            script,
            "bound",
            _NEW_VARS,
            timeout + 5,
            {"dhcp6c.conf": conf},
        )

    def start_networkd(self, network: str) -> Process:
        """systemd-networkd managing eth0 with the `.network` file text `network`, in
        the background until stopped; its debug log is the Process log.

        It runs without systemd as PID 1: private mount, UTS and PID
        namespaces, its own tmpfs /run holding the configuration and a read-only /sys
        (networkd then leaves udev's work alone). With no D-Bus it sets no hostname and
        no resolver: the machine's /etc stays untouched."""
        self._runs += 1
        rundir = self.hv.workdir / self.ns / f"{self._runs:02d}-networkd"
        rundir.mkdir(parents=True)
        (rundir / "10-eth0.network").write_text(network)
        wrapper = f"""\
set -eu
mount -t tmpfs nfdt-networkd /run
mkdir -p /run/systemd/network /run/systemd/netif
cp {shlex.quote(str(rundir / "10-eth0.network"))} /run/systemd/network/
chown systemd-network:systemd-network /run/systemd/netif
mount -o remount,ro /sys
hostname localhost
export SYSTEMD_LOG_LEVEL=debug SYSTEMD_LOG_TARGET=console
exec /lib/systemd/systemd-networkd
"""
        unshare = [
            "unshare", "--mount", "--propagation", "private", "--uts",
            "--pid", "--fork", "--kill-child", "--mount-proc",
        ]  # fmt: skip
        return self.hv.spawn(unique_name("networkd"), [*unshare, "sh", "-c", wrapper], ns=self.ns)

    def addresses4(self) -> tuple[IPv4Interface, ...]:
        links: list[dict[str, Any]] = json.loads(
            self.ip("-j", "-4", "addr", "show", "dev", self.ifname).stdout
        )
        return tuple(
            IPv4Interface(f"{info['local']}/{info['prefixlen']}")
            for link in links
            for info in link.get("addr_info", [])
        )

    def dhcpcd6(self, *, timeout: int = 15) -> ClientRun:
        """dhcpcd 9, IPv6 only, one-shot: follows the RA's M/O flags by itself."""
        script = f'#!/bin/sh\nenv -0 > "${{0%/*}}/env.$reason"\nexec {DHCPCD_HOOKS} "$@"\n'
        args = ["dhcpcd", "-6", "-1", "-B", "-t", str(timeout), "-c", "{script}", self.ifname]
        return self._run_client("dhcpcd6", args, script, "BOUND6", _NEW_VARS, timeout + 5)


# ------------------------------------------------------------------------------- helpers


def mac_for(index: int, prefix: str = "52:54:00:7e") -> str:
    """A locally administered unicast MAC, unique per index (QEMU's OUI style)."""
    return f"{prefix}:{(index >> 8) & 0xFF:02x}:{index & 0xFF:02x}"


@contextlib.contextmanager
def hypervisor(
    mode: Mode | None = None, *, label: str = "hv", name: str | None = None
) -> Iterator[Hypervisor]:
    """A hypervisor namespace; with `mode`, also the DHCP rule (and bridge if bridged)."""
    with Hypervisor(label, name=name) as hv:
        if mode == "bridged":
            hv.add_bridge("br0")
        if mode is not None:
            hv.add_dhcp_rule(mode)
        yield hv


def network_for(index: int) -> ipaddress.IPv4Network:
    """A distinct /22 per index, so masks other than /24 get exercised."""
    return ipaddress.IPv4Network(f"10.{64 + index // 64}.{(index % 64) * 4}.0/22")
