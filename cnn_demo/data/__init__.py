"""Datasets: uploads, folders, the per-user store, splits and their figures."""
