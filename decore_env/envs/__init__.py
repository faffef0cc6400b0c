"""The Gymnasium surface over a task: the single and vector envs, the PettingZoo view, the
layer-wise env, budget and relaxation wrappers, and the registered ids."""
