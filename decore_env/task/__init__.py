"""The task core: its spec, the trained weights, and masks in -> per-sample rewards out on
the device (no Gymnasium here)."""
