"""The "Asynchronous calls" part of Modal's Dicts-and-Queues guide (seed 002), Queue half."""

import asyncio

import chute

my_queue = chute.Queue.from_name("my-persisted-queue", create_if_missing=True)


async def main() -> None:
    await my_queue.put.aio(100)
    assert await my_queue.get.aio() == 100
    async with chute.Queue.ephemeral() as q:
        await q.put.aio(123)
        assert [v async for v in q.iterate.aio()] == [123]
    print("ok")


asyncio.run(main())
