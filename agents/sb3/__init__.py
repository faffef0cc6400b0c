"""Stable-Baselines3 algorithms on the task: adapters, their policy and vec-env helpers, and
layer-wise TD3 on the layer-wise env."""
