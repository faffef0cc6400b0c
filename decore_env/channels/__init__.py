"""A network's channels: tracing them into groups, per-sample mask hooks, the params/MACs cost
model, mixing norms, channel importance, and surgery that removes dropped channels for real."""
