"""An async app as Modal's examples write it (only the import line changed)."""

import asyncio

import chute as modal

app = modal.App("modal-style-async")


@app.function(secrets=[modal.Secret.from_dict({"EMBED_KEY": "k-123"})], env={"DIM": "3"})
async def embed(text: str) -> list[float]:
    await asyncio.sleep(0.01)
    return [float(len(text))] * 3


@app.function()
async def tokens(text: str):
    for word in text.split():
        await asyncio.sleep(0)
        yield word


@app.local_entrypoint()
async def main(text: str = "hello async world"):
    vectors = await asyncio.gather(*(embed.remote.aio(w) for w in text.split()))
    print("vectors", vectors)
    print("tokens", [t async for t in tokens.remote_gen.aio(text)])
