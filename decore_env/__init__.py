"""DECORE compression as a Gymnasium environment: channel groups, masks, real channel removal."""

__version__ = "0.1.0"
