"""Data sets as tensors (named, embedded, image folders) and the device-resident loader."""
