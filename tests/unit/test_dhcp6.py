"""dhcp6.py: DHCPv6 messages parsed and built (RFC 8415), scapy as the oracle."""

from __future__ import annotations

import contextlib
import struct
from ipaddress import IPv6Address
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.dhcp6 import (
    DHCP6,
    DHCP6_Confirm,
    DHCP6_InfoRequest,
    DHCP6_Rebind,
    DHCP6_Release,
    DHCP6_Renew,
    DHCP6_Reply,
    DHCP6_Request,
    DHCP6_Solicit,
    DHCP6OptClientId,
    DHCP6OptElapsedTime,
    DHCP6OptIA_NA,
    DHCP6OptIAAddress,
    DHCP6OptOptReq,
    DHCP6OptRapidCommit,
    DHCP6OptServerId,
    DHCP6OptStatusCode,
)
from scapy.packet import Raw

from nfdhcpd.core import dhcp6
from nfdhcpd.core.dhcp6 import MessageType, Option, Status
from nfdhcpd.core.errors import MalformedPacket

from ..helpers.builders import CLIENT_DUID, client_duid
from ..helpers.dhcp6_scapy import ia_addresses
from ..helpers.readers import dhcp6_options
from ..helpers.samples import SERVER_DUID, VM_EUI64

A1 = IPv6Address(VM_EUI64).packed
A2 = IPv6Address("2001:db8:aaaa:bbbb::100").packed


def solicit(*extra: Any, trid: int = 0xABCDEF) -> bytes:
    return bytes(
        DHCP6_Solicit(trid=trid)
        / DHCP6OptClientId(duid=client_duid())
        / DHCP6OptElapsedTime()
        / DHCP6OptIA_NA(iaid=0x01020304)
        / DHCP6OptOptReq(reqopts=[23, 24])
        / DHCP6OptRapidCommit()
    ) + b"".join(bytes(e) for e in extra)


def test_parse_solicit() -> None:
    msg = dhcp6.parse_dhcp6(solicit())
    assert msg.msg_type == MessageType.SOLICIT
    assert msg.xid == b"\xab\xcd\xef"
    assert msg.options == {
        Option.CLIENTID: [CLIENT_DUID],
        Option.ELAPSED_TIME: [b"\0\0"],
        Option.IA_NA: [b"\x01\x02\x03\x04" + bytes(8)],
        Option.ORO: [b"\x00\x17\x00\x18"],
        Option.RAPID_COMMIT: [b""],
    }
    assert msg.first(Option.CLIENTID) == CLIENT_DUID
    assert msg.first(Option.SERVERID) is None
    assert msg.first(Option.RAPID_COMMIT) == b""
    assert dhcp6.requested(msg) == {23, 24}


def test_repeated_options_kept_in_order() -> None:
    data = bytes(
        DHCP6_Request(trid=1)
        / DHCP6OptIA_NA(iaid=1)
        / DHCP6OptServerId(duid=Raw(SERVER_DUID))
        / DHCP6OptIA_NA(iaid=2)
        / DHCP6OptIA_NA(iaid=3)
    )
    msg = dhcp6.parse_dhcp6(data)
    assert [v[:4] for v in msg.options[Option.IA_NA]] == [
        b"\0\0\0\1",
        b"\0\0\0\2",
        b"\0\0\0\3",
    ]
    assert msg.first(Option.IA_NA) == b"\0\0\0\1" + bytes(8)
    assert msg.first(Option.SERVERID) == SERVER_DUID


@pytest.mark.parametrize(
    "layer",
    [DHCP6_Request, DHCP6_Confirm, DHCP6_Renew, DHCP6_Rebind, DHCP6_Release, DHCP6_InfoRequest],
)
def test_parse_message_types(layer: Any) -> None:
    msg = dhcp6.parse_dhcp6(bytes(layer(trid=0x010203)))
    assert msg.msg_type == layer().msgtype
    assert msg.xid == b"\1\2\3"
    assert msg.options == {}


def test_parse_ia_na_with_addresses() -> None:
    value = bytes(
        DHCP6OptIA_NA(
            iaid=0xDEADBEEF,
            T1=10,
            T2=20,
            ianaopts=[
                DHCP6OptIAAddress(addr=VM_EUI64, preflft=1, validlft=2),
                DHCP6OptStatusCode(statuscode=0),
                DHCP6OptIAAddress(addr="2001:db8:aaaa:bbbb::100"),
            ],
        )
    )[4:]
    ia = dhcp6.parse_ia_na(value)
    assert ia == dhcp6.IaNa(b"\xde\xad\xbe\xef", (A1, A2))


def test_parse_ia_na_iaaddr_with_options() -> None:
    iaaddr = DHCP6OptIAAddress(addr=VM_EUI64, iaaddropts=[DHCP6OptStatusCode(statuscode=2)])
    ia = dhcp6.parse_ia_na(bytes(DHCP6OptIA_NA(iaid=5, ianaopts=[iaaddr]))[4:])
    assert ia.addresses == (A1,)


BAD_IA_NA = {
    "short": (bytes(11), "dhcp6.ia_na"),
    "short-iaaddr": (bytes(12) + struct.pack("!HH", 5, 23) + bytes(23), "dhcp6.iaaddr"),
    "inner-past-end": (bytes(12) + struct.pack("!HH", 5, 24) + bytes(23), "dhcp6.option5"),
    "inner-header-cut": (bytes(12) + b"\0\5\0", "dhcp6.option"),
}


@pytest.mark.parametrize(("value", "field"), BAD_IA_NA.values(), ids=BAD_IA_NA.keys())
def test_parse_ia_na_rejects(value: bytes, field: str) -> None:
    with pytest.raises(MalformedPacket) as err:
        dhcp6.parse_ia_na(value)
    assert err.value.field == field


BAD_MESSAGES = {
    "empty": (b"", "dhcp6"),
    "3-bytes": (b"\x01\x00\x00", "dhcp6"),
    "option-header-cut": (b"\x01\0\0\0\0\1\0", "dhcp6.option"),
    "option-past-end": (b"\x01\0\0\0\0\1\0\5abcd", "dhcp6.option1"),
}


@pytest.mark.parametrize(("data", "field"), BAD_MESSAGES.values(), ids=BAD_MESSAGES.keys())
def test_parse_dhcp6_rejects(data: bytes, field: str) -> None:
    with pytest.raises(MalformedPacket) as err:
        dhcp6.parse_dhcp6(data)
    assert err.value.field == field


def test_requested() -> None:
    def msg(*options: Any) -> dhcp6.Dhcp6Message:
        data = bytes(DHCP6_InfoRequest())
        return dhcp6.parse_dhcp6(data + b"".join(bytes(o) for o in options))

    assert dhcp6.requested(msg()) is None
    assert dhcp6.requested(msg(DHCP6OptOptReq(reqopts=[]))) == set()
    assert dhcp6.requested(msg(DHCP6OptOptReq(reqopts=[23]))) == {23}
    assert dhcp6.requested(msg(DHCP6OptOptReq(reqopts=[24, 23, 24, 82]))) == {23, 24, 82}
    with pytest.raises(MalformedPacket) as err:
        dhcp6.requested(dhcp6.parse_dhcp6(bytes(DHCP6_InfoRequest()) + b"\0\6\0\1\0"))
    assert err.value.field == "dhcp6.oro"


# --- every prefix of a valid message -----------------------------------------------

MESSAGES = {
    "solicit": solicit(),
    "request": bytes(
        DHCP6_Request()
        / DHCP6OptClientId(duid=client_duid())
        / DHCP6OptServerId(duid=Raw(SERVER_DUID))
        / DHCP6OptIA_NA(iaid=1, ianaopts=[DHCP6OptIAAddress(addr=VM_EUI64)])
    ),
    "confirm": bytes(
        DHCP6_Confirm()
        / DHCP6OptClientId(duid=client_duid())
        / DHCP6OptIA_NA(iaid=1, ianaopts=[DHCP6OptIAAddress(addr=VM_EUI64)])
    ),
    "information-request": bytes(DHCP6_InfoRequest() / DHCP6OptOptReq()),
}


@pytest.mark.parametrize("data", MESSAGES.values(), ids=MESSAGES.keys())
def test_every_prefix_parses_or_is_malformed(data: bytes) -> None:
    boundaries = {4 + sum(4 + len(v) for _, v in dhcp6_options(data[4:])[:n]) for n in range(9)}
    for cut in range(len(data) + 1):
        prefix = data[:cut]
        if cut in boundaries:
            msg = dhcp6.parse_dhcp6(prefix)
            assert msg.xid == data[1:4]
            for raw in msg.options.get(Option.IA_NA, []):
                dhcp6.parse_ia_na(raw)
        else:
            with pytest.raises(MalformedPacket):
                dhcp6.parse_dhcp6(prefix)


def test_every_prefix_of_an_ia_na() -> None:
    value = bytes(DHCP6OptIA_NA(iaid=9, ianaopts=[DHCP6OptIAAddress(addr=VM_EUI64)]))[4:]
    assert dhcp6.parse_ia_na(value).addresses == (A1,)
    for cut in range(len(value)):
        if cut == 12:
            assert dhcp6.parse_ia_na(value[:cut]).addresses == ()
        else:
            with pytest.raises(MalformedPacket):
                dhcp6.parse_ia_na(value[:cut])


# --- building ----------------------------------------------------------------------


def test_build_reply_decoded_by_scapy() -> None:
    data = dhcp6.build_dhcp6(
        MessageType.REPLY,
        b"\x12\x34\x56",
        [
            dhcp6.encode_option(Option.SERVERID, SERVER_DUID),
            dhcp6.encode_option(Option.CLIENTID, CLIENT_DUID),
            dhcp6.encode_ia_na(b"\0\0\0\7", 3600, 5400, [(A1, 600, 900), (A2, 0, 0)]),
            dhcp6.encode_status(Status.NOT_ON_LINK, "not on link"),
            dhcp6.encode_option(Option.RAPID_COMMIT, b""),
        ],
    )
    pkt = DHCP6_Reply(data)
    assert (pkt.msgtype, pkt.trid) == (7, 0x123456)
    assert bytes(pkt[DHCP6OptServerId].duid) == SERVER_DUID
    assert pkt[DHCP6OptClientId].duid.lladdr == "aa:6b:39:22:33:44"
    ia = pkt[DHCP6OptIA_NA]
    assert (ia.iaid, ia.T1, ia.T2) == (7, 3600, 5400)
    assert ia_addresses(ia) == [(VM_EUI64, 600, 900), ("2001:db8:aaaa:bbbb::100", 0, 0)]
    status = pkt[DHCP6OptStatusCode]
    assert (status.statuscode, status.statusmsg) == (4, b"not on link")
    assert DHCP6OptRapidCommit in pkt
    codes = [code for code, _ in dhcp6_options(data[4:])]
    assert codes == [2, 1, 3, 13, 14]


def test_encode_ia_na_without_addresses_is_no_addrs_avail() -> None:
    raw = dhcp6.encode_ia_na(b"\0\0\0\1", 100, 200, [])
    ia = DHCP6OptIA_NA(raw)
    assert (ia.iaid, ia.T1, ia.T2) == (1, 0, 0)
    (status,) = ia.ianaopts
    assert isinstance(status, DHCP6OptStatusCode)
    assert status.statuscode == int(Status.NO_ADDRS_AVAIL) == 2
    assert status.statusmsg


def test_encode_option_lengths() -> None:
    assert dhcp6.encode_option(14, b"") == b"\0\x0e\0\0"
    assert dhcp6.encode_option(23, A1) == b"\0\x17\0\x10" + A1
    assert dhcp6.encode_status(Status.SUCCESS, "ok") == b"\0\x0d\0\x04\0\0ok"


def test_build_and_parse_round_trip() -> None:
    options = [dhcp6.encode_option(1, CLIENT_DUID), dhcp6.encode_option(6, b"\0\x17")]
    msg = dhcp6.parse_dhcp6(dhcp6.build_dhcp6(MessageType.SOLICIT, b"xyz", options))
    assert (msg.msg_type, msg.xid, msg.options) == (1, b"xyz", {1: [CLIENT_DUID], 6: [b"\0\x17"]})
    assert isinstance(DHCP6(dhcp6.build_dhcp6(MessageType.SOLICIT, b"xyz", options)), DHCP6)


def test_enum_values_are_rfc8415() -> None:
    assert [m.value for m in MessageType] == list(range(1, 14))
    assert (Option.DNS_SERVERS, Option.DOMAIN_LIST, Option.RAPID_COMMIT) == (23, 24, 14)
    assert (Option.IA_TA, Option.IA_PD) == (4, 25)
    assert [s.value for s in Status] == [0, 1, 2, 3, 4, 5, 6]


# --- properties --------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_parse_dhcp6_arbitrary(data: bytes) -> None:
    try:
        msg = dhcp6.parse_dhcp6(data)
    except MalformedPacket:
        return
    assert 4 + sum(4 + len(v) for vs in msg.options.values() for v in vs) == len(data)
    try:
        dhcp6.requested(msg)
    except MalformedPacket as exc:
        assert exc.field == "dhcp6.oro"
    for raw in msg.options.get(Option.IA_NA, []):
        with contextlib.suppress(MalformedPacket):
            dhcp6.parse_ia_na(raw)


@st.composite
def option_lists(draw: st.DrawFn) -> bytes:
    """Well-framed TLVs of likely codes, sometimes with a broken last one."""
    out = b""
    for _ in range(draw(st.integers(0, 5))):
        code = draw(st.sampled_from([1, 2, 3, 5, 6, 13, 14]) | st.integers(0, 65535))
        out += dhcp6.encode_option(code, draw(st.binary(max_size=40)))
    return out + draw(st.binary(max_size=3))


@settings(max_examples=400, deadline=None)
@given(st.binary(min_size=12, max_size=12), option_lists())
def test_parse_ia_na_arbitrary(head: bytes, inner: bytes) -> None:
    for value in (head + inner, inner):
        try:
            ia = dhcp6.parse_ia_na(value)
        except MalformedPacket:
            continue
        assert ia.iaid == value[:4]
        assert all(len(a) == 16 for a in ia.addresses)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 255), st.binary(min_size=3, max_size=3), option_lists())
def test_parse_dhcp6_framed_options(mtype: int, xid: bytes, options: bytes) -> None:
    data = bytes((mtype,)) + xid + options
    try:
        msg = dhcp6.parse_dhcp6(data)
    except MalformedPacket:
        assert len(dhcp6_options_prefix(options)) < len(options)
        return
    assert (msg.msg_type, msg.xid) == (mtype, xid)


def dhcp6_options_prefix(data: bytes) -> bytes:
    """The longest prefix of `data` made of whole TLVs."""
    pos = 0
    while pos + 4 <= len(data):
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if pos + 4 + length > len(data):
            break
        pos += 4 + length
    return data[:pos]
