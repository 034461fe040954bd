"""Seed 004's ``process_job`` with a 1-second result TTL, so a test sees the endpoint's 404 for an
expired result (deployed over examples/my_job_queue.py: same app and function names)."""

import chute

app = chute.App("my-job-queue")


@app.function(result_ttl=1)
def process_job(data):
    return {"result": data}
