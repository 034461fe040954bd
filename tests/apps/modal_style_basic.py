"""Written the way Modal's examples are: only the import line differs (``import modal``)."""

import os

import chute as modal

image = modal.Image.debian_slim(python_version="3.12").pip_install("numpy").env({"GREETING": "hello"})
app = modal.App("modal-style-basic", image=image)
volume = modal.Volume.from_name("modal-style-data", create_if_missing=True)


@app.function
def square(x: int) -> int:
    return x * x


@app.function(
    secrets=[modal.Secret.from_dict({"TOKEN": "s3cr3t-value"})],
    env={"MODE": "test"},
    volumes={"/data": volume},
    cpu=2.0,
    memory=1024,
    timeout=60,
    retries=2,
    region="us-east",
    cloud="aws",
)
def configured(n: int) -> dict:
    return {"n": n, "call": modal.current_function_call_id(), "local": modal.is_local()}


@app.function()
def countdown(n: int):
    i = n
    while i > 0:
        yield i
        i -= 1


@app.function()
def fan_out(n: int) -> list[int]:
    return list(square.map(range(n)))


@app.function(schedule=modal.Period(hours=1))
def hourly() -> str:
    return os.environ.get("MODE", "")


@app.local_entrypoint()
def main(n: int = 3, label: str = "sq"):
    print(label, [square.remote(i) for i in range(n)])
    print("gen", list(countdown.remote_gen(n)))
    info = configured.remote(n)
    print("configured", info["n"], info["call"].startswith("fc-"), info["local"])
    print("fan", fan_out.remote(n))


@app.function()
def shout(word: str, times: int = 2) -> str:
    return " ".join([word.upper()] * times)
