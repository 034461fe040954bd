"""An ASGI endpoint answering its VERSION: the reload and late-deploy tests copy and edit it."""

import chute

app = chute.App("web-versioned")
VERSION = "v1"


async def tiny(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": VERSION.encode()})


@app.function()
@chute.asgi_app()
def versioned():
    return tiny
