"""The pooled provider clients: one per provider and event loop, its connections spread over
several pools so that no pool walks a thousand connections on every request."""

import asyncio

import httpx

from playground.providers.clients import SpreadTransport, aclose_all, client_for


def test_a_provider_has_one_client_per_event_loop():
    async def clients():
        try:
            return client_for("openai"), client_for("openai"), client_for("fal")
        finally:
            await aclose_all()

    first, again, other = asyncio.run(clients())
    assert first is again
    assert other is not first
    assert asyncio.run(clients())[0] is not first  # another loop, another client


def test_the_pools_take_requests_in_turn_and_share_the_limits_exactly(openai_fake):
    """Four pools sharing six connections hold 2, 2, 1 and 1; eight requests taken in turn,
    two to each pool, get six connections and two wait. Were each pool given the whole limit,
    all eight would get one; were the requests not spread, two would."""
    held, limit = 8, 6
    openai_fake.hang_next(times=held, on="models")

    async def scenario():
        transport = SpreadTransport(
            pools=4, limits=httpx.Limits(max_connections=limit, max_keepalive_connections=limit)
        )
        timeout = httpx.Timeout(10.0, pool=0.2)
        async with httpx.AsyncClient(transport=transport, timeout=timeout) as client:
            url, key = f"{openai_fake.base_url}/models", f"Bearer {openai_fake.api_key}"
            requests = [
                asyncio.create_task(client.get(url, headers={"Authorization": key}))
                for _ in range(held)
            ]
            for _ in range(500):  # until those without a connection give up (0.2 s), or 5 s
                if sum(request.done() for request in requests) >= held - limit:
                    break
                await asyncio.sleep(0.01)
            reached = len(openai_fake.requests_to("models"))
            openai_fake.release()
            answers = await asyncio.gather(*requests, return_exceptions=True)
        return reached, answers

    reached, answers = asyncio.run(scenario())
    assert reached == limit
    statuses = [getattr(answer, "status_code", type(answer)) for answer in answers]
    assert sorted(statuses, key=str) == [200] * limit + [httpx.PoolTimeout] * (held - limit)
