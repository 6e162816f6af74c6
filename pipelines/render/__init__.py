"""Batch rendering of talking-head videos from a request table (jobs/render.py). This package does not import Ray."""
