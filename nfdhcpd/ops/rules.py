"""`nfdhcpd rules`: the netfilter rules that divert a config's requests into its queues.

Two forms, both safe to apply again (they replace what they made, never add twice):

- iptables (the default): a shell script of `iptables-restore --noflush` input for a
  chain `nfdhcpd` in the mangle table (restoring a chain that exists flushes it first),
  a check-before-add jump to it from PREROUTING, and in front of it the per-TAP rate
  limit as nftables tables `nfdhcpd_limit`, which iptables cannot express (hashlimit
  keys on addresses and ports, never on the interface). What a TAP sends beyond the
  limit gets a mark bit and the NFQUEUE rules skip marked packets.
- nftables (`--nft`): one ruleset with the queue statements, for kernels with the nft
  queue expression (CONFIG_NFT_QUEUE).

Either way a flood from one TAP never reaches the queue all TAPs share. Routed TAPs
are matched in the `inet` family by the interface the packet enters on; bridge ports
in the `bridge` family by the port, before the bridge (the iptables form then matches
them with `-m physdev`). Over the limit, a packet passes on unqueued, as if nfdhcpd
were not running; bridged, DHCP, DHCPv6 and Router Solicitations are dropped instead,
since passed on, a flood of them would reach every VM on the bridge. Neighbor
Solicitations always pass on: VMs resolve one another with them.
"""

from __future__ import annotations

import re

from ..core.config import Config

MODES = ("routed", "bridged", "both")
#: The mark bit the rate limit sets by default; `--mark` picks another.
DEFAULT_MARK = 0x00100000
#: An interface name, or a prefix with iptables' trailing "+" (IFNAMSIZ is 16 with NUL).
_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,15}\+?$")


class RulesError(ValueError):
    """An option the rules cannot be made from, with what is wrong with it."""


def check_options(interfaces: str, mark: int) -> None:
    if not _PATTERN.match(interfaces) or interfaces in (".", ".."):
        raise RulesError(
            f"--interfaces {interfaces!r}: not an interface name or prefix+ "
            "(letters, digits, '.', '_', '-', at most 15, then an optional '+')"
        )
    if mark <= 0 or mark >= 1 << 32 or mark & (mark - 1):
        raise RulesError(f"--mark {mark:#x}: not a single bit of the 32-bit packet mark")


def _nft_name(interfaces: str) -> str:
    """iptables' `tap+` is nftables' `tap*`."""
    return interfaces[:-1] + "*" if interfaces.endswith("+") else interfaces


def _kinds(config: Config) -> list[tuple[str, str, str, int]]:
    """(what, inet match, bridge match, queue) for each kind of packet queued."""
    kinds = []
    if config.enable_dhcp:
        kinds.append(
            (
                "dhcp",
                "meta nfproto ipv4 udp dport 67",
                "ether type ip udp dport 67",
                config.dhcp_queue,
            )
        )
    if config.enable_ipv6:
        rs, ns = "icmpv6 type nd-router-solicit", "icmpv6 type nd-neighbor-solicit"
        kinds += [
            ("rs", rs, f"ether type ip6 {rs}", config.rs_queue),
            ("ns", ns, f"ether type ip6 {ns}", config.ns_queue),
            (
                "dhcpv6",
                "meta nfproto ipv6 udp dport 547",
                "ether type ip6 udp dport 547",
                config.dhcpv6_queue,
            ),
        ]
    return kinds


def _families(mode: str) -> list[tuple[str, str]]:
    families = []
    if mode in ("routed", "both"):
        families.append(("inet", "# Routed TAPs: the packet enters on the TAP itself."))
    if mode in ("bridged", "both"):
        families.append(
            (
                "bridge",
                "# Bridged TAPs: the bridge family sees the TAP as the frame's ingress port.",
            )
        )
    return families


def _table(
    family: str, name: str, chains: list[str], config: Config, over: str, priority: str
) -> str:
    """Table `name` of `family`: the rate set and limit chains, then `chains` in a
    prerouting chain; declared, deleted and defined, so loading it again replaces it."""
    limit = f"limit rate over {config.rate_limit}/second burst {config.rate_burst} packets"
    limit_chains = [f"\tchain over_limit {{\n\t\tupdate @rate {{ iifname {limit} }} {over}\n\t}}\n"]
    if family == "bridge":
        limit_chains.append(
            f"\tchain over_limit_drop {{\n\t\tupdate @rate {{ iifname {limit} }} drop\n\t}}\n"
        )
    rate_set = (
        "\tset rate {\n\t\ttypeof iifname\n\t\tsize 65535\n"
        "\t\tflags dynamic,timeout\n\t\ttimeout 1m\n\t}\n"
    )
    hook = f"\t\ttype filter hook prerouting priority {priority}; policy accept;\n"
    prerouting = "\tchain prerouting {\n" + hook + "".join(f"\t\t{c}\n" for c in chains) + "\t}\n"
    parts = ([rate_set, *limit_chains] if config.rate_limit else []) + [prerouting]
    return (
        f"table {family} {name}\ndelete table {family} {name}\n"
        f"table {family} {name} {{\n" + "\n".join(parts) + "}\n"
    )


def _limit_jump(family: str, what: str) -> str:
    return "jump over_limit_drop" if family == "bridge" and what != "ns" else "jump over_limit"


def nft_ruleset(config: Config, mode: str = "both", interfaces: str = "tap+") -> str:
    """`nfdhcpd rules --nft`: tables `nfdhcpd` with the queue statements."""
    taps = f'iifname "{_nft_name(interfaces)}"'
    tables = []
    for family, why in _families(mode):
        chains = []
        for what, inet, bridge, queue in _kinds(config):
            match = f"{taps} {inet if family == 'inet' else bridge}"
            if config.rate_limit:
                chains.append(f"{match} {_limit_jump(family, what)}")
            chains.append(f"{match} queue num {queue} bypass")
        # The queue where iptables' mangle rules would be; bridged, before the bridge.
        priority = "mangle" if family == "inet" else "filter"
        tables.append(why + "\n" + _table(family, "nfdhcpd", chains, config, "accept", priority))
    return "\n".join(tables)


def limit_ruleset(
    config: Config, mode: str = "both", interfaces: str = "tap+", mark: int = DEFAULT_MARK
) -> str:
    """The nftables tables `nfdhcpd_limit` that mark what the iptables rules skip."""
    if not config.rate_limit:
        return ""
    taps = f'iifname "{_nft_name(interfaces)}"'
    tables = []
    for family, why in _families(mode):
        chains = []
        kinds = _kinds(config)
        if family == "inet":
            by_match: dict[str, str] = {}
            icmp = [k for k in kinds if k[0] in ("rs", "ns")]
            for what, inet, _bridge, _queue in kinds:
                if what in ("rs", "ns") and len(icmp) == 2:
                    inet = "icmpv6 type { nd-router-solicit, nd-neighbor-solicit }"
                by_match.setdefault(inet, what)
            chains = [f"{taps} {match} jump over_limit" for match in by_match]
        else:
            chains = [
                f"{taps} {bridge} {_limit_jump(family, what)}" for what, _i, bridge, _q in kinds
            ]
        over = f"meta mark set meta mark | {mark:#010x}"
        # Before iptables' mangle table (-150), and bridged before br_netfilter (0).
        priority = "mangle - 10" if family == "inet" else "filter"
        tables.append(why + "\n" + _table(family, "nfdhcpd_limit", chains, config, over, priority))
    return "\n".join(tables)


def iptables_rules(config: Config, tool: str, mode: str, interfaces: str, mark: int) -> list[str]:
    """The `-A nfdhcpd ...` lines of `tool` (iptables or ip6tables)."""
    matches = []
    if mode in ("routed", "both"):
        matches.append(f"-i {interfaces}")
    if mode in ("bridged", "both"):
        matches.append(f"-m physdev --physdev-in {interfaces}")
    skip = f" -m mark --mark 0x0/{mark:#x}" if config.rate_limit else ""
    kinds: list[tuple[str, int]] = []
    if tool == "iptables" and config.enable_dhcp:
        kinds.append(("-p udp -m udp --dport 67", config.dhcp_queue))
    if tool == "ip6tables" and config.enable_ipv6:
        kinds += [
            ("-p ipv6-icmp -m icmp6 --icmpv6-type 133", config.rs_queue),
            ("-p ipv6-icmp -m icmp6 --icmpv6-type 135", config.ns_queue),
            ("-p udp -m udp --dport 547", config.dhcpv6_queue),
        ]
    return [
        f"-A nfdhcpd {match} {kind}{skip} -j NFQUEUE --queue-num {queue} --queue-bypass"
        for match in matches
        for kind, queue in kinds
    ]


def iptables_script(
    config: Config, mode: str = "both", interfaces: str = "tap+", mark: int = DEFAULT_MARK
) -> str:
    """`nfdhcpd rules`: a shell script that installs (or replaces) the rules."""
    check_options(interfaces, mark)
    lines = [
        "#!/bin/sh",
        f"# nfdhcpd rules for {config.path} (--mode {mode} --interfaces {interfaces}).",
        "# Safe to run again: it replaces chain nfdhcpd of the mangle table and the",
        "# nftables tables nfdhcpd_limit, and adds the jump to the chain only once.",
        "set -e",
    ]
    if mode in ("bridged", "both"):
        lines += [
            "# Bridged TAPs: their IP packets must traverse iptables (br_netfilter, a",
            "# module or built in: then its sysctls are there already).",
            "[ -d /proc/sys/net/bridge ] || modprobe br_netfilter",
        ]
        if config.enable_dhcp:
            lines.append("sysctl -q -w net.bridge.bridge-nf-call-iptables=1")
        if config.enable_ipv6:
            lines.append("sysctl -q -w net.bridge.bridge-nf-call-ip6tables=1")
    limit = limit_ruleset(config, mode, interfaces, mark)
    # Each run replaces the last one whole (as it does chain nfdhcpd): a table of a
    # family this run does not make goes.
    made = [family for family, _why in _families(mode)] if limit else []
    for family in ("inet", "bridge"):
        if family not in made:
            lines.append(f"nft delete table {family} nfdhcpd_limit 2>/dev/null || true")
    if limit:
        lines += [
            f"# The per-TAP rate limit ([general] rate_limit {config.rate_limit}/s, rate_burst "
            f"{config.rate_burst}):",
            f"# what a TAP sends beyond it gets mark bit {mark:#x} and is not queued.",
            "nft -f - <<'EOF'",
            limit.rstrip("\n"),
            "EOF",
        ]
    else:
        lines.append("# [general] rate_limit = 0: no per-TAP rate limit.")
    for tool in ("iptables", "ip6tables"):
        rules = iptables_rules(config, tool, mode, interfaces, mark)
        if not rules:
            continue
        jump = f"{tool} -w -t mangle"
        lines += [
            f"{tool}-restore -w --noflush <<'EOF'",
            "*mangle",
            ":nfdhcpd - [0:0]",
            *rules,
            "COMMIT",
            "EOF",
            f"{jump} -C PREROUTING -j nfdhcpd 2>/dev/null || {jump} -A PREROUTING -j nfdhcpd",
        ]
    return "".join(f"{line}\n" for line in lines)


def nft_script(config: Config, mode: str = "both", interfaces: str = "tap+") -> str:
    """`nfdhcpd rules --nft`: an nftables file (`nft -f`), replacing its own tables."""
    check_options(interfaces, DEFAULT_MARK)
    header = [
        "#!/usr/sbin/nft -f",
        f"# nfdhcpd rules --nft for {config.path} (--mode {mode} --interfaces {interfaces}).",
        "# Needs the nft queue expression (CONFIG_NFT_QUEUE). Safe to load again: it",
        "# replaces its own tables only.",
    ]
    if not config.rate_limit:
        header.append("# [general] rate_limit = 0: no per-TAP rate limit.")
    return "\n".join(header) + "\n\n" + nft_ruleset(config, mode, interfaces)
