"""Malformed and random DHCP, DHCPv6, RS and NS frames, sent raw from a VM namespace.

Run inside the VM's network namespace with the venv's python:

    python rawfuzz.py IFNAME MAC COUNT --seed N [--rate PPS] [--ipv6] [--host-mac MAC]

Every frame but the `junk` share has valid Ethernet and IPv4 / IPv6 headers (checksum,
lengths) and the port or ICMPv6 type the NFQUEUE rules match, so the kernel queues it
and the daemon must parse what follows: a mutated, truncated or random DHCP / DHCPv6
message or ND body. It prints one JSON line: how many frames of each kind it sent, so
the caller knows exactly how many each queue must have received.

Standard library only, so it runs from any python in any namespace.
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import struct
import sys
import time
from collections import Counter
from collections.abc import Callable

BROADCAST = b"\xff" * 6
#: Payload bytes at most: with the largest headers sent, a frame fits a 1500-byte MTU.
MAX_PAYLOAD = 1400
#: What each queue of README "iptables rules" receives: DHCP, RS, NS, DHCPv6.
QUEUE_OF = {"dhcp4": 42, "rs": 43, "ns": 44, "dhcp6": 45}


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


class Fuzzer:
    def __init__(self, rng: random.Random, mac: bytes, host_mac: bytes | None) -> None:
        self.rng = rng
        self.mac = mac
        self.host_mac = host_mac

    # --- mutations ----------------------------------------------------------------

    def mutate(self, data: bytes, *, keep: int = 0) -> bytes:
        """Flip, overwrite, insert, delete or truncate; the first `keep` bytes stay."""
        rng = self.rng
        buf = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            if len(buf) <= keep:
                buf += rng.randbytes(rng.randint(1, 16))
                continue
            pos = rng.randrange(keep, len(buf))
            how = rng.randrange(7)
            if how == 0:
                buf[pos] ^= 1 << rng.randrange(8)
            elif how == 1:
                buf[pos] = rng.choice((0, 1, 0x7F, 0x80, 0xFE, 0xFF, rng.randrange(256)))
            elif how == 2:
                buf[pos:pos] = rng.randbytes(rng.randint(1, 32))
            elif how == 3:
                del buf[pos : pos + rng.randint(1, 32)]
            elif how == 4:
                del buf[rng.randint(keep, len(buf)) :]  # truncate
            elif how == 5:  # repeat a slice: duplicated options, long chains
                chunk = bytes(buf[pos : pos + rng.randint(2, 24)])
                buf[pos:pos] = chunk * rng.randint(1, 20)
            else:
                buf[pos : pos + 2] = struct.pack(
                    "!H", rng.choice((0, 0xFFFF, rng.randrange(65536)))
                )
        return bytes(buf)

    def payload(self, valid: Callable[[], bytes], *, keep: int = 0) -> bytes:
        """A valid message, a mutated one, or random bytes; at most MAX_PAYLOAD bytes."""
        rng = self.rng
        choice = rng.random()
        if choice < 0.15:
            data = valid()
        elif choice < 0.85:
            data = self.mutate(valid(), keep=keep)
        else:
            data = rng.randbytes(rng.choice((0, 1, 3, 8, rng.randint(0, 300), MAX_PAYLOAD)))
        return data[:MAX_PAYLOAD]

    # --- DHCPv4 ---------------------------------------------------------------------

    def dhcp4_options(self) -> bytes:
        rng = self.rng
        msg_type = rng.choice((1, 3, 3, 4, 7, 8, 2, 5, 0, 9, 255))
        opts = bytearray(b"\x35\x01" + bytes((msg_type,)))
        extra = [
            b"\x32\x04" + rng.randbytes(4),  # requested address
            b"\x36\x04" + rng.randbytes(4),  # server identifier
            b"\x37" + bytes((n := rng.randint(0, 40),)) + rng.randbytes(n),  # PRL
            b"\x3d\x07\x01" + self.mac,  # client identifier
            b"\x0c" + bytes((n := rng.randint(0, 64),)) + rng.randbytes(n),  # hostname
            b"\x39\x02" + struct.pack("!H", rng.choice((0, 1, 576, 1500, 65535))),
            b"\x34\x01" + bytes((rng.randint(0, 4),)),  # option overload
            b"\x52" + bytes((n := rng.randint(0, 40),)) + rng.randbytes(n),  # relay agent
            b"\x51" + bytes((n := rng.randint(0, 20),)) + rng.randbytes(n),  # client FQDN
            b"\x00" * rng.randint(0, 8),  # pads
        ]
        for item in rng.sample(extra, rng.randint(0, len(extra))):
            opts += item
        if rng.random() < 0.8:
            opts += b"\xff"
        return bytes(opts)

    def dhcp4(self) -> bytes:
        rng = self.rng
        flags = rng.choice((0, 0x8000))
        ciaddr = rng.choice((b"\0" * 4, rng.randbytes(4)))
        giaddr = rng.choice((b"\0" * 4, b"\0" * 4, rng.randbytes(4)))
        header = struct.pack(
            "!BBBBIHH4s4s4s4s16s64s128s4s",
            1,
            rng.choice((1, 1, 1, 6, 0, 255)),  # htype
            rng.choice((6, 6, 6, 0, 16, 255)),  # hlen
            rng.choice((0, 0, 1, 255)),  # hops
            rng.getrandbits(32),
            rng.randint(0, 10),
            flags,
            ciaddr,
            b"\0" * 4,
            b"\0" * 4,
            giaddr,
            self.mac + b"\0" * 10,
            b"",
            b"",
            b"\x63\x82\x53\x63",
        )
        return header + self.dhcp4_options()

    def ipv4_udp(self, payload: bytes) -> bytes:
        rng = self.rng
        sport = rng.choice((68, 68, 68, 67, rng.randrange(65536)))
        udp_len = len(payload) + 8
        if rng.random() < 0.1:  # a UDP length that disagrees with the IP length
            udp_len = rng.choice((0, 7, 8, rng.randrange(65536)))
        udp = struct.pack("!HHHH", sport, 67, udp_len & 0xFFFF, 0) + payload
        src = rng.choice((b"\0" * 4, b"\0" * 4, rng.randbytes(4)))
        dst = rng.choice((b"\xff" * 4, b"\xff" * 4, b"\x01\x02\x03\x04", rng.randbytes(4)))
        options = b""
        if rng.random() < 0.05:  # NOP options: a header longer than 20 bytes
            options = b"\x01" * (4 * rng.randint(1, 10))
        ihl = 5 + len(options) // 4
        if rng.random() < 0.8:  # else no UDP checksum (0)
            pseudo = src + dst + struct.pack("!BBH", 0, 17, len(udp))
            udp = udp[:6] + struct.pack("!H", checksum(pseudo + udp) or 0xFFFF) + udp[8:]
        total = 4 * ihl + len(udp)
        ip = struct.pack(
            "!BBHHHBBH4s4s",
            0x40 | ihl,
            rng.choice((0, 0x10, rng.randrange(256))),
            total,
            rng.getrandbits(16),
            rng.choice((0, 0x4000)),  # never a fragment: each frame is one packet
            rng.choice((64, 128, 1, 255)),
            17,
            0,
            src,
            dst,
        )
        header = ip + options
        header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
        trailer = rng.randbytes(rng.randint(1, 32)) if rng.random() < 0.05 else b""
        dst_mac = BROADCAST if self.host_mac is None or rng.random() < 0.7 else self.host_mac
        return dst_mac + self.mac + b"\x08\x00" + header + udp + trailer

    # --- IPv6 -----------------------------------------------------------------------

    def link_local(self) -> bytes:
        mac = self.mac
        return b"\xfe\x80" + b"\0" * 6 + bytes((mac[0] ^ 2,)) + mac[1:3] + b"\xff\xfe" + mac[3:]

    def ipv6(self, next_header: int, body: bytes, dst: bytes, *, hop_limit: int = 255) -> bytes:
        """`body` (ICMPv6 or UDP, checksum filled in), sometimes behind a hop-by-hop header."""
        rng = self.rng
        src = rng.choice((self.link_local(), self.link_local(), b"\0" * 16, rng.randbytes(16)))
        if src[0] == 0xFF:  # a multicast source is dropped before netfilter
            src = b"\x20" + src[1:]
        pseudo = src + dst + struct.pack("!IxxxB", len(body), next_header)
        offset = 2 if next_header == 58 else 6
        if rng.random() < 0.9:
            body = body[:offset] + struct.pack("!H", checksum(pseudo + body)) + body[offset + 2 :]
        payload, first = body, next_header
        if rng.random() < 0.05:  # hop-by-hop options header with PadN
            payload = bytes((next_header, 0, 1, 4)) + b"\0" * 4 + body
            first = 0
        header = struct.pack("!IHBB16s16s", 0x60000000, len(payload), first, hop_limit, src, dst)
        dst_mac = b"\x33\x33" + dst[12:]
        return dst_mac + self.mac + b"\x86\xdd" + header + payload

    def nd_options(self) -> bytes:
        rng = self.rng
        opts = bytearray()
        for _ in range(rng.choice((0, 1, 1, 2, 5))):
            kind = rng.choice((1, 1, 2, 5, 14, rng.randrange(256)))
            if kind in (1, 2) and rng.random() < 0.7:
                opts += bytes((kind, 1)) + self.mac
            else:
                units = rng.choice((0, 1, 2, 255, rng.randrange(8)))
                opts += bytes((kind, units)) + rng.randbytes(max(0, units * 8 - 2))
        return bytes(opts)

    def rs(self) -> bytes:
        rng = self.rng
        body = self.payload(lambda: b"\x85\x00\0\0" + b"\0" * 4 + self.nd_options(), keep=1)
        body = b"\x85" + body[1:]
        body = body.ljust(8, b"\0")  # the ip6tables icmpv6 match drops shorter ones
        dst = b"\xff\x02" + b"\0" * 13 + b"\x02"
        return self.ipv6(58, body, dst, hop_limit=rng.choice((255, 255, 255, 64, 1)))

    def ns(self) -> bytes:
        rng = self.rng
        target = rng.choice(
            (
                self.link_local(),
                b"\xfe\x80" + b"\0" * 13 + b"\x01",
                b"\x20\x01\x0d\xb8" + rng.randbytes(12),
                b"\xff\x02" + rng.randbytes(14),
                rng.randbytes(16),
            )
        )
        body = self.payload(
            lambda: b"\x87\x00\0\0" + b"\0" * 4 + target + self.nd_options(), keep=1
        )
        body = b"\x87" + body[1:]
        body = body.ljust(8, b"\0")
        dst = b"\xff\x02" + b"\0" * 9 + b"\x01\xff" + target[13:]
        if rng.random() < 0.2:
            dst = rng.choice((target, b"\xff\x02" + b"\0" * 13 + b"\x01"))
            if dst[0] != 0xFF:  # unicast: only to the host's MAC would it be received
                dst = b"\xff\x02" + b"\0" * 13 + b"\x01"
            elif dst[1] & 0x0F < 2:
                # Scope 0 (reserved) or 1 (interface-local) is dropped before netfilter
                # (RFC 4291 2.7; the kernel's ip6_rcv_core): link-local scope instead.
                dst = dst[:1] + bytes((dst[1] & 0xF0 | 2,)) + dst[2:]
        return self.ipv6(58, body, dst, hop_limit=rng.choice((255, 255, 255, 64)))

    def dhcp6_options(self) -> bytes:
        rng = self.rng

        def option(code: int, body: bytes) -> bytes:
            return struct.pack("!HH", code, len(body)) + body

        duid = b"\x00\x03\x00\x01" + self.mac
        iaaddr = option(5, rng.randbytes(16) + struct.pack("!II", 3600, 7200))
        choices = [
            option(1, duid),
            option(1, rng.randbytes(rng.randint(0, 140))),
            option(2, rng.randbytes(rng.randint(0, 20))),
            option(3, rng.randbytes(4) + struct.pack("!II", 0, 0) + iaaddr),
            option(3, rng.randbytes(4) + struct.pack("!II", 0, 0)),
            option(3, rng.randbytes(rng.randint(0, 11))),
            option(6, struct.pack("!HH", 23, 24)),
            option(6, rng.randbytes(rng.randint(0, 9))),
            option(8, struct.pack("!H", rng.randrange(65536))),
            option(14, b""),
            option(9, rng.randbytes(rng.randint(0, 60))),  # relay message
            struct.pack("!HH", rng.randrange(65536), rng.choice((0, 4, 65535))),  # lying length
        ]
        opts = b"".join(rng.sample(choices, rng.randint(0, len(choices))))
        if rng.random() < 0.1:  # many IA_NAs
            opts += option(3, b"\0\0\0\1" + b"\0" * 8 + iaaddr) * rng.randint(2, 40)
        return opts

    def dhcp6(self) -> bytes:
        rng = self.rng
        msg_type = rng.choice((1, 3, 4, 5, 6, 8, 9, 11, 12, 2, 7, 0, 255))

        def valid() -> bytes:
            return bytes((msg_type,)) + rng.randbytes(3) + self.dhcp6_options()

        payload = self.payload(valid)
        sport = rng.choice((546, 546, 547, rng.randrange(65536)))
        udp_len = len(payload) + 8
        if rng.random() < 0.05:
            udp_len = rng.randrange(65536)
        udp = struct.pack("!HHHH", sport, 547, udp_len, 0) + payload
        dst = b"\xff\x02" + b"\0" * 11 + b"\x01\x00\x02"
        return self.ipv6(17, udp, dst, hop_limit=rng.choice((1, 64, 255)))

    def junk(self) -> bytes:
        """Random bytes after an Ethernet header: the kernel drops them before the queues."""
        rng = self.rng
        ethertype = rng.choice((b"\x08\x00", b"\x86\xdd", b"\x88\xb5", rng.randbytes(2)))
        return BROADCAST + self.mac + ethertype + rng.randbytes(rng.randint(0, 400))

    def frame(self, kind: str) -> bytes:
        if kind == "dhcp4":
            return self.ipv4_udp(self.payload(self.dhcp4))
        return {"rs": self.rs, "ns": self.ns, "dhcp6": self.dhcp6, "junk": self.junk}[kind]()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("ifname")
    parser.add_argument("mac")
    parser.add_argument("count", type=int)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--rate", type=float, default=5000.0, help="frames a second")
    parser.add_argument("--ipv6", action="store_true", help="also RS, NS and DHCPv6 frames")
    parser.add_argument("--host-mac", help="the TAP's MAC, for unicast IPv4 frames")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    mac = bytes.fromhex(args.mac.replace(":", ""))
    host_mac = bytes.fromhex(args.host_mac.replace(":", "")) if args.host_mac else None
    fuzzer = Fuzzer(rng, mac, host_mac)
    kinds = ["dhcp4"] * 10 + ["junk"]
    if args.ipv6:
        kinds += ["rs"] * 3 + ["ns"] * 3 + ["dhcp6"] * 6
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    sock.bind((args.ifname, 0))
    sent: Counter[str] = Counter()
    started = time.monotonic()
    for n in range(args.count):
        kind = rng.choice(kinds)
        frame = fuzzer.frame(kind)
        while True:
            try:
                sock.send(frame)
                break
            except BlockingIOError:  # pragma: no cover - veth queues are deep
                time.sleep(0.001)
        sent[kind] += 1
        if n % 50 == 49:  # pace: the daemon must parse every frame, not find a full queue
            ahead = started + (n + 1) / args.rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
    elapsed = time.monotonic() - started
    queued = {str(QUEUE_OF[k]): v for k, v in sent.items() if k in QUEUE_OF}
    print(json.dumps({"sent": dict(sent), "queued": queued, "seconds": round(elapsed, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
