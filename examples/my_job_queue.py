# my_job_queue.py: seed 004's job queue example, unchanged except `modal` -> `chute`.
# Run it with `chute run examples/my_job_queue.py` (workers start and stop with it), or
# `chute deploy examples/my_job_queue.py` + `chute worker examples/my_job_queue.py`.
import chute

app = chute.App("my-job-queue")


@app.function()
def process_job(data):
    # Perform the job processing here
    return {"result": data}


def submit_job(data):
    # Since the `process_job` function is deployed, need to first look it up
    process_job = chute.Function.from_name("my-job-queue", "process_job")
    call = process_job.spawn(data)
    return call.object_id


def get_job_result(call_id):
    function_call = chute.FunctionCall.from_id(call_id)
    try:
        result = function_call.get(timeout=5)
    except chute.exception.OutputExpiredError:
        result = {"result": "expired"}
    except TimeoutError:
        result = {"result": "pending"}
    return result


@app.local_entrypoint()
def main():
    data = "my-data"

    # Submit the job to chute
    call_id = submit_job(data)
    print(get_job_result(call_id))
