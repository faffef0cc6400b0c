"""The compress application: pipeline, policy phase, run settings, run folders, CLI, W&B,
summaries, plots and exports."""
