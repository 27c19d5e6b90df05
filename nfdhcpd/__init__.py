"""nfdhcpd: host-local DHCP / IPv6 RA / DHCPv6 responder for VM hypervisors, over NFQUEUE."""

__version__ = "0.1.0"
