"""Web endpoints: Modal's ``asgi_app``, ``wsgi_app``, ``fastapi_endpoint`` and ``web_server``.

Modules:

- ``decorators``: the public decorators; each records a ``WebSpec`` that ``@app.function()``
  stores with the function (so ``chute deploy`` registers the endpoint).
- ``ports``: each endpoint's port, allocated once and kept in the backend; its URL.
- ``host``: the part of ``chute serve`` that polls the function registry and runs the
  endpoints' executor processes.
- ``executor``: the executor process (imports the app, serves the port with uvicorn).
- ``guard``: ``chute serve``'s access rules in front of an endpoint; ``proxy``: the HTTP
  forwarder in front of a ``web_server``.
"""

from chute.web.decorators import asgi_app, fastapi_endpoint, web_endpoint, web_server, wsgi_app

__all__ = ["asgi_app", "fastapi_endpoint", "web_endpoint", "web_server", "wsgi_app"]
