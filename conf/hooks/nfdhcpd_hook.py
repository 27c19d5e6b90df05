"""What nfdhcpd's libvirt and Proxmox VE hooks share: settings and binding files.

The hooks run under the system's python3 with the standard library only (libvirtd
and Proxmox run them with a bare environment, outside any virtualenv), and import
this module from `../hooks/` next to their own real path, so a symlink to a hook
works. A binding is written as the Ganeti hook writes it: a hidden temporary file in
the state directory renamed over `<state>/<TAP>`, so nfdhcpd (which ignores names
starting with a dot) sees the old binding or the new one, never a part of one.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import shlex
import sys
import syslog
import tempfile
from collections.abc import Iterable, Mapping
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from pathlib import Path

DEFAULTS = "/etc/default/nfdhcpd"
STATE_DIR = "/var/lib/nfdhcpd"
#: The order keys are written in; the values are what nfdhcpd reads (README "Binding files").
KEYS = (
    "INDEV", "MAC", "HOSTNAME", "IP", "SUBNET", "GATEWAY", "DNS", "DOMAIN", "SEARCH",
    "ROUTES", "MTU", "PRIVATE", "SUBNET6", "GATEWAY6", "EUI64", "IP6", "DNS6",
)  # fmt: skip
_MAC = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")
_ASSIGNMENT = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


class HookError(Exception):
    """Bad input: the message names the VM, the NIC and the value."""


def settings(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment, then the assignments of /etc/default/nfdhcpd ($NFDHCPD_DEFAULTS)
    over it, as the Ganeti hooks get them by sourcing that file."""
    values = dict(environ)
    path = Path(values.get("NFDHCPD_DEFAULTS", DEFAULTS))
    try:
        text = path.read_text()
    except FileNotFoundError:
        return values
    except (OSError, UnicodeDecodeError) as exc:
        raise HookError(f"cannot read {path}: {exc}") from None
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _ASSIGNMENT.match(line)
        if not match:
            raise HookError(f"{path} line {number}: not a VAR=value line: {line!r}")
        try:
            words = shlex.split(match.group(2), comments=True)
        except ValueError as exc:
            raise HookError(f"{path} line {number}: {exc}") from None
        values[match.group(1)] = " ".join(words)
    return values


def state_dir(config: Mapping[str, str]) -> Path:
    return Path(config.get("NFDHCPD_STATE_DIR") or STATE_DIR)


def valid_ifname(name: str) -> bool:
    """Linux dev_valid_name(), as nfdhcpd checks it: the binding file's name."""
    return (
        0 < len(name.encode()) <= 15
        and name not in (".", "..")
        and not name.startswith(".")
        and not re.search(r"[/:\s]", name)
    )


def valid_hostname(name: str) -> bool:
    return len(name) <= 253 and all(_LABEL.match(label) for label in name.split("."))


def eui64(subnet6: IPv6Network, mac: str) -> IPv6Address | None:
    """The modified EUI-64 address of `mac` in a /64 (RFC 4291 appendix A), else None."""
    if subnet6.prefixlen != 64:
        return None
    octets = bytes.fromhex(mac.replace(":", ""))
    iid = bytes((octets[0] ^ 0x02,)) + octets[1:3] + b"\xff\xfe" + octets[3:6]
    return IPv6Address(subnet6.network_address.packed[:8] + iid)


def split_dns(servers: Iterable[str], where: str) -> tuple[list[str], list[str]]:
    """Name servers by family: (IPv4 for DNS, IPv6 for DNS6)."""
    v4: list[str] = []
    v6: list[str] = []
    for server in servers:
        try:
            address = ipaddress.ip_address(server)
        except ValueError:
            raise HookError(f"{where}: name server {server!r} is not an IP address") from None
        (v4 if address.version == 4 else v6).append(str(address))
    return v4, v6


def words(text: str) -> list[str]:
    """A list as binding files take it: commas or white space between items."""
    return [w for w in re.split(r"[,\s]+", text) if w]


def check(values: dict[str, str], where: str) -> dict[str, str]:
    """Refuse what nfdhcpd would refuse, naming the key, before anything is written;
    return `values` with addresses in canonical form and IP6 moved to EUI64 when it
    is the MAC's EUI-64 address (then `auto` mode hands it out by SLAAC)."""
    out = {key: value for key, value in values.items() if value != ""}

    def fail(key: str, reason: str) -> HookError:
        return HookError(f"{where}: {key} {out.get(key, '')!r}: {reason}")

    def parse(key: str, conv: type, what: str) -> object | None:
        if key not in out:
            return None
        try:
            value: object = conv(out[key])
        except ValueError:
            raise fail(key, f"not {what}") from None
        out[key] = str(value)
        return value

    if not _MAC.match(out.get("MAC", "")):
        raise fail("MAC", "not a MAC address")
    out["MAC"] = out["MAC"].lower()
    if "INDEV" in out and not valid_ifname(out["INDEV"]):
        raise fail("INDEV", "not an interface name")
    ip = parse("IP", IPv4Address, "an IPv4 address")
    subnet = parse("SUBNET", IPv4Network, "an IPv4 network in CIDR form (no host bits)")
    parse("GATEWAY", IPv4Address, "an IPv4 address")
    if ip is not None:
        assert isinstance(subnet, IPv4Network | None)
        if subnet is None:
            raise fail("SUBNET", "missing: needed with IP")
        if ip not in subnet:
            raise fail("IP", f"outside SUBNET {subnet}")
    subnet6 = parse("SUBNET6", IPv6Network, "an IPv6 network in CIDR form (no host bits)")
    parse("GATEWAY6", IPv6Address, "an IPv6 address")
    ip6 = parse("IP6", IPv6Address, "an IPv6 address")
    if ip6 is not None:
        assert isinstance(subnet6, IPv6Network | None)
        if subnet6 is None:
            raise fail("SUBNET6", "missing: needed with IP6")
        if ip6 not in subnet6:
            raise fail("IP6", f"outside SUBNET6 {subnet6}")
        if ip6 == eui64(subnet6, out["MAC"]):
            out["EUI64"] = out.pop("IP6")
    if "MTU" in out and not (out["MTU"].isdigit() and 68 <= int(out["MTU"]) <= 65535):
        raise fail("MTU", "not an integer in 68..65535")
    if "HOSTNAME" in out and not valid_hostname(out["HOSTNAME"]):
        raise fail("HOSTNAME", "not a host name")
    for key in ("SEARCH", "DOMAIN"):
        for name in words(out.get(key, "")):
            if not valid_hostname(name):
                raise fail(key, f"{name!r} is not a domain name")
    for key, version in (("DNS", 4), ("DNS6", 6)):
        for server in words(out.get(key, "")):
            try:
                valid = ipaddress.ip_address(server).version == version
            except ValueError:
                valid = False
            if not valid:
                raise fail(key, f"{server!r} is not an IPv{version} address")
    if "IP" not in out and "SUBNET6" not in out:
        raise HookError(f"{where}: neither an IPv4 address nor an IPv6 subnet to hand out")
    return out


def render(values: Mapping[str, str], header: str) -> str:
    lines = [f"# {header}"]
    lines += [f"{key}={shlex.quote(values[key])}" for key in KEYS if key in values]
    return "\n".join(lines) + "\n"


def write_binding(state: Path, tap: str, text: str) -> Path:
    """Atomically replace `<state>/<tap>` with `text`, mode 0644."""
    if not valid_ifname(tap):
        raise HookError(f"not an interface name: {tap!r}")
    state.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=state, prefix=f".{tap}.")
    try:
        with os.fdopen(fd, "w") as file:
            file.write(text)
            os.fchmod(file.fileno(), 0o644)
        os.replace(tmp, state / tap)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return state / tap


def remove_binding(state: Path, tap: str, marker: str) -> bool:
    """Remove `<state>/<tap>` if this hook wrote it (its first line holds `marker`):
    a binding an admin or another tool wrote for that name is left alone."""
    path = state / tap
    if not valid_ifname(tap):
        return False
    try:
        with path.open("rb") as file:
            first = file.readline(4096)
    except OSError:
        return False
    if marker.encode() not in first:
        return False
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    return True


def report(prog: str, message: str, *, error: bool = True) -> None:
    """stderr (which libvirt logs when the hook fails) and syslog (which always keeps it)."""
    print(f"{prog}: {message}", file=sys.stderr)
    with contextlib.suppress(OSError):
        syslog.openlog(prog, syslog.LOG_PID, syslog.LOG_DAEMON)
        syslog.syslog(syslog.LOG_ERR if error else syslog.LOG_INFO, message)
