"""The bearerguard benchmark: what an auth layer adds to each request, side by side.

Run ``python -m benchmarks.run [--quick]`` from the repository root. See ``run.py``.
"""
