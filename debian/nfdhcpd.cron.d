# nfdhcpd prune every 10 minutes where systemd is not running (there the
# nfdhcpd-prune.timer does it), while the daemon runs; see nfdhcpd(8).
*/10 * * * * root [ ! -d /run/systemd/system ] && [ -S /run/nfdhcpd/nfdhcpd.sock ] && . /etc/default/nfdhcpd && /usr/sbin/nfdhcpd prune -c "${CONFIG:-/etc/nfdhcpd/nfdhcpd.conf}" --stale-after "${PRUNE_STALE_AFTER:-3600}" 2>&1 | logger -t nfdhcpd-prune
