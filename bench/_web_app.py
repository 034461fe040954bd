"""The trivial async endpoint bench/web.py measures: one FastAPI app, served three ways.

``web_app`` under plain uvicorn is the baseline; ``chute serve bench/_web_app.py`` serves
the same object through ``@chute.asgi_app()``.
"""

import fastapi

import chute

web_app = fastapi.FastAPI()
app = chute.App("bench-web")


@web_app.get("/")
async def root() -> dict[str, bool]:
    return {"ok": True}


@app.function()
@chute.asgi_app()
def bench_app() -> fastapi.FastAPI:
    return web_app
