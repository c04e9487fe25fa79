"""`make bench`: the performance measurements (docs/performance.md), run against a database of their own.

One module per measurement (seed_queries, week_page, ingest, sync_cycle, full_sync_memory, storage), a runner
(`python -m bench`) and a report writer (var/bench/results.md and results.json). Timings live here, never in
test assertions; tests/system/test_bench.py runs the whole harness on tiny sizes so it cannot rot.
"""
