"""Container networking: bridge networks, IPAM, veths, nftables, published ports, embedded DNS."""
