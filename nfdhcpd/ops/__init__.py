"""Operations: metrics, the control socket and status, the pcap trace."""
