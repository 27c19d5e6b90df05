#!/usr/bin/env python3
"""A tiny DHCPv4 client for timing, run inside a VM namespace: `_dhcpprobe.py IFNAME MAC`.

It speaks a line protocol on stdin/stdout so the benchmark can time replies against its
own clock (CLOCK_MONOTONIC is shared by all processes):

    discover WANT TIMEOUT INTERVAL  -> "started", then "offer YIADDR T_NS SENT" or "timeout SENT"
    lease TIMEOUT INTERVAL          -> "ack YIADDR T_NS SENT" or "timeout SENT"

WANT is an IPv4 address or "any". DISCOVERs (and REQUESTs) are re-sent every INTERVAL
seconds until the wanted reply arrives. Standard library only, so it starts fast.
"""

from __future__ import annotations

import os
import select
import socket
import struct
import sys
import time

ETH_P_IP = 0x0800
MAGIC = b"\x63\x82\x53\x63"


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return int(~total & 0xFFFF)


def frame(mac: bytes, xid: int, mtype: int, extra: bytes = b"") -> bytes:
    """Ethernet/IPv4/UDP/BOOTP broadcast from 0.0.0.0:68 to 255.255.255.255:67."""
    options = bytes([53, 1, mtype]) + extra + bytes([55, 4, 1, 3, 6, 15, 255])
    bootp = struct.pack("!BBBBIHH4s4s4s4s", 1, 1, 6, 0, xid, 0, 0x8000, *(b"\0" * 4,) * 4)
    bootp += mac + bytes(10) + bytes(192) + MAGIC + options
    udp = struct.pack("!HHHH", 68, 67, 8 + len(bootp), 0) + bootp
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, b"\0" * 4, b"\xff" * 4
    )
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return b"\xff" * 6 + mac + struct.pack("!H", ETH_P_IP) + header + udp


def parse_reply(data: bytes, xid: int) -> tuple[int, str, bytes] | None:
    """(message type, yiaddr, server id) of a BOOTREPLY for `xid`, else None."""
    ip = data[14:]
    if len(ip) < 28 or ip[9] != 17:
        return None
    ihl = (ip[0] & 15) * 4
    udp = ip[ihl:]
    if len(udp) < 8 + 240 or struct.unpack("!H", udp[2:4])[0] != 68:
        return None
    bootp = udp[8:]
    if bootp[0] != 2 or struct.unpack("!I", bootp[4:8])[0] != xid or bootp[236:240] != MAGIC:
        return None
    mtype, server = 0, b""
    pos = 240
    while pos < len(bootp) and bootp[pos] != 255:
        if bootp[pos] == 0:
            pos += 1
            continue
        code, length = bootp[pos], bootp[pos + 1]
        value = bootp[pos + 2 : pos + 2 + length]
        if code == 53 and value:
            mtype = value[0]
        elif code == 54:
            server = value
        pos += 2 + length
    return mtype, socket.inet_ntoa(bootp[16:20]), server


class Probe:
    def __init__(self, ifname: str, mac: str) -> None:
        self.mac = bytes.fromhex(mac.replace(":", ""))
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
        self.sock.bind((ifname, 0))
        self.sock.setblocking(False)

    def drain(self) -> None:
        while True:
            try:
                self.sock.recv(65535)
            except BlockingIOError:
                return

    def exchange(
        self, request: bytes, xid: int, want_type: int, want_ip: str | None, timeout: float,
        interval: float, announce: bool = False,
    ) -> tuple[str, int, bytes] | None:  # fmt: skip
        """Send `request` every `interval` until the wanted reply; (yiaddr, t_ns, server)."""
        deadline = time.monotonic() + timeout
        next_send = 0.0
        while True:
            now = time.monotonic()
            if now >= deadline:
                return None
            if now >= next_send:
                self.sock.send(request)
                self.sent += 1
                next_send = now + interval
                if announce:
                    print("started", flush=True)
                    announce = False
            ready, _, _ = select.select(
                [self.sock], [], [], max(0.0, min(next_send, deadline) - now)
            )
            if not ready:
                continue
            while True:
                try:
                    data, addr = self.sock.recvfrom(65535)
                except BlockingIOError:
                    break
                t_ns = time.monotonic_ns()
                if addr[2] == socket.PACKET_OUTGOING:
                    continue
                reply = parse_reply(data, xid)
                if reply and reply[0] == want_type and want_ip in (None, reply[1]):
                    return reply[1], t_ns, reply[2]

    def command(self, words: list[str]) -> str:
        self.sent = 0
        xid = int.from_bytes(os.urandom(4), "big")
        self.drain()
        if words[0] == "discover":
            want = None if words[1] == "any" else words[1]
            request = frame(self.mac, xid, 1)
            got = self.exchange(request, xid, 2, want, float(words[2]), float(words[3]), True)
            return f"offer {got[0]} {got[1]} {self.sent}" if got else f"timeout {self.sent}"
        if words[0] == "lease":
            timeout, interval = float(words[1]), float(words[2])
            offer = self.exchange(frame(self.mac, xid, 1), xid, 2, None, timeout, interval)
            if offer is None:
                return f"timeout {self.sent}"
            extra = bytes([50, 4]) + socket.inet_aton(offer[0])
            if offer[2]:
                extra += bytes([54, len(offer[2])]) + offer[2]
            ack = self.exchange(frame(self.mac, xid, 3, extra), xid, 5, offer[0], timeout, interval)
            return f"ack {ack[0]} {ack[1]} {self.sent}" if ack else f"timeout {self.sent}"
        return f"error unknown command {words[0]!r}"


def main() -> int:
    probe = Probe(sys.argv[1], sys.argv[2])
    print("ready", flush=True)
    for line in sys.stdin:
        words = line.split()
        if words:
            print(probe.command(words), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
