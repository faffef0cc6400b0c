"""Non-RL references that prune to a params/MACs target: rules, random search, greedy."""
