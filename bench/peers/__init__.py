"""The task queues ``bench/jobs.py`` compares chute with: one module per system, run by that
system's own venv (``bench/_venvs.py``), never by chute's. Each defines the job functions as the
system wants them, its app objects (built at import from ``BENCH_JOBS_URL`` and
``BENCH_JOBS_ROW``), and a ``Driver`` for the submitter (``bench/peers/_submit.py``)."""
