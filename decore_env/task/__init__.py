"""The task core: its spec, the trained weights, layer-state observations, and masks in ->
per-sample rewards out on the device (no Gymnasium here)."""
