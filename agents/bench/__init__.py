"""The benchmark library: the sweep grid, append-only result tables, statistics, curves."""
