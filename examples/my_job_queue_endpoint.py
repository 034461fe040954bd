# ruff: noqa: I001  (the imports are kept as in the seed)
# my_job_queue_endpoint.py: seed 004's FastAPI example, unchanged except `modal` -> `chute`.
# `chute deploy examples/my_job_queue.py`, run its worker (`chute worker examples/my_job_queue.py`),
# then `chute serve examples/my_job_queue_endpoint.py` prints the endpoint's URL:
#   curl -X POST $URL/submit?data=data      ->  {"call_id":"fc-…"}
#   curl $URL/result/fc-…                   ->  202 while pending, then {"result":"data"}
import fastapi
import chute

image = chute.Image.debian_slim().pip_install("fastapi[standard]")
app = chute.App("fastapi-modal", image=image)
web_app = fastapi.FastAPI()


@app.function()
@chute.asgi_app()
def fastapi_app():
    return web_app


@web_app.post("/submit")
async def submit_job_endpoint(data):
    process_job = chute.Function.from_name("my-job-queue", "process_job")

    call = process_job.spawn(data)
    return {"call_id": call.object_id}


@web_app.get("/result/{call_id}")
async def get_job_result_endpoint(call_id: str):
    function_call = chute.FunctionCall.from_id(call_id)
    try:
        result = function_call.get(timeout=0)
    except chute.exception.OutputExpiredError:
        return fastapi.responses.JSONResponse(content="", status_code=404)
    except TimeoutError:
        return fastapi.responses.JSONResponse(content="", status_code=202)

    return result
