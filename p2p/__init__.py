"""finchain p2p package."""
