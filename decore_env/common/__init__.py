"""Small tools every layer uses: atomic files, tensor-only loading, checks of user numbers."""
