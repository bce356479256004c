"""Taichi kernels: pure compute on arrays, no registry and no command line."""
