"""The native, vectorized REINFORCE agent of the paper and its measured improvements."""
