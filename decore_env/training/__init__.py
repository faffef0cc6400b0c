"""Training and measuring networks: the fit loop, accuracy, params/MACs, latency."""
