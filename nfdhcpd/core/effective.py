"""What one binding hands out under one config: every per-binding override of a
config default resolved in one place, once per binding (see Responder)."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from .binding import Binding
from .config import Config

#: Router lifetime of every RA that makes the host the default router: RFC 4861
#: 6.2.1's maximum AdvDefaultLifetime (RFC 8319 allows more; hosts before it cap at
#: this). The VMs keep their default route 2.5 hours without RAs: an hour of daemon
#: downtime after an RA up to ra_period (at most 1800 s) old, with room to spare.
ROUTER_LIFETIME = 9000


@dataclass(frozen=True, slots=True)
class Effective:
    #: DHCPv4 option 3: GATEWAY, none for a PRIVATE binding
    router: IPv4Address | None
    #: option 54 (RFC 2131 4.3.1): server_ip, or with server_on_link an address on the
    #: VM's link: GATEWAY, else the first host of SUBNET, as GRNET's nfdhcpd chose it
    server_id: IPv4Address
    dns: tuple[IPv4Address, ...]  # DNS, else [dhcp] nameservers
    #: DOMAIN, else [dhcp] domain, else the domain of a fully qualified HOSTNAME (GRNET)
    domain: str | None
    search: tuple[str, ...]  # SEARCH, else the domain
    ntp: tuple[IPv4Address, ...]  # NTP, else [dhcp] ntp_servers
    dns6: tuple[IPv6Address, ...]  # DNS6, else [ipv6] nameservers
    #: DNSSL and DHCPv6 option 24: SEARCH, else [ipv6] domains, else the domain of a
    #: fully qualified HOSTNAME (GRNET's DHCPv6 fallback)
    domains6: tuple[str, ...]
    #: RA router lifetime: 0 unless the host is the VM's IPv6 default router
    router_lifetime: int


def resolve(binding: Binding, config: Config) -> Effective:
    domain = binding.domain or config.domain or binding.fqdn_domain
    server_id = config.server_ip
    if config.server_on_link:
        if binding.gateway is not None:
            server_id = binding.gateway
        elif binding.subnet is not None and binding.subnet.num_addresses > 2:
            server_id = binding.subnet.network_address + 1
    domains6: tuple[str, ...] = ()
    if binding.search is not None:
        domains6 = binding.search
    elif config.domains6:
        domains6 = config.domains6
    elif binding.fqdn_domain:
        domains6 = (binding.fqdn_domain,)
    return Effective(
        router=None if binding.private else binding.gateway,
        server_id=server_id,
        dns=binding.dns if binding.dns is not None else config.nameservers,
        domain=domain,
        search=binding.search if binding.search is not None else ((domain,) if domain else ()),
        ntp=binding.ntp if binding.ntp is not None else config.ntp_servers,
        dns6=binding.dns6 if binding.dns6 is not None else config.nameservers6,
        domains6=domains6,
        router_lifetime=ROUTER_LIFETIME if binding.default_router6 else 0,
    )
