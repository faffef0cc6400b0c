"""One user seed, many independent generators (imports no torch)."""

from __future__ import annotations

import zlib

SEED_STREAMS = ("data", "augment", "init", "actions")
"""What the one user seed seeds, each through its own derived seed: data order,
augmentation, network initialisation, action sampling."""


def derive_seed(seed: int, stream: str) -> int:
    """An independent 63-bit seed for ``stream`` (one of SEED_STREAMS) from the user's seed.

    numpy's SeedSequence hashes (seed, stream) so that nearby user seeds and different streams
    give unrelated generators (one seed reused for two generators gives correlated draws).
    """
    import numpy as np

    if stream not in SEED_STREAMS:
        raise ValueError(f"unknown seed stream {stream!r}; one of {SEED_STREAMS}")
    entropy = [int(seed), zlib.crc32(stream.encode())]
    return int(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0] >> 1)
