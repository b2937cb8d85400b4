"""Benchmark of the approval engine: one command measures everything and writes docs/performance.md.

Run ``bash bench/run`` (or ``.venv/bin/python -m bench``); ``--smoke`` is the small
variant the test suite runs.
"""
