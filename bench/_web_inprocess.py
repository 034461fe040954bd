"""The in-process alternative bench/web.py compares with: the endpoint on ``chute serve``'s own loop.

One process runs what ``chute serve APP_FILE`` would run if endpoints were served in-process:
the API/dashboard app and the endpoint app (built and guarded exactly as an executor builds
it) as two uvicorn servers on one event loop, plus the app file's worker pool on a thread.

    python bench/_web_inprocess.py APP_FILE APP FUNCTION API_PORT ENDPOINT_PORT
"""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import uvicorn  # noqa: E402

from chute.app import find_function  # noqa: E402
from chute.http import ServerConfig, create_app  # noqa: E402
from chute.http.auth import TokenSet  # noqa: E402
from chute.web.executor import build_app  # noqa: E402
from chute.web.guard import EndpointGuard  # noqa: E402
from chute.web.spec import WebSpec  # noqa: E402
from chute.worker import Pool  # noqa: E402


async def main(app_file: str, app_name: str, fn_name: str, api_port: int, endpoint_port: int) -> None:
    pool = Pool([app_file])
    threading.Thread(target=pool.run, kwargs={"install_signal_handlers": False}, daemon=True).start()
    fn = find_function(app_name, fn_name)
    assert fn is not None and fn.spec.web is not None
    web = WebSpec.from_dict(fn.spec.web)
    endpoint, lifespan = build_app(fn._raw, web)
    guarded = EndpointGuard(endpoint, env="main", tokens=TokenSet(), private=False)
    servers = [
        uvicorn.Server(uvicorn.Config(create_app(ServerConfig()), port=api_port, log_level="warning")),
        uvicorn.Server(
            uvicorn.Config(
                guarded, port=endpoint_port, log_level="warning", access_log=False, lifespan=lifespan
            )  # type: ignore[arg-type]
        ),
    ]
    try:
        await asyncio.gather(*(s.serve() for s in servers))
    finally:
        pool.stop()


if __name__ == "__main__":
    file, app, fn, api, port = sys.argv[1:6]
    asyncio.run(main(file, app, fn, int(api), int(port)))
