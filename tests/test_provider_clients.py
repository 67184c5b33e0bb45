"""The pooled provider clients: one per provider and event loop, its connections spread over
several pools so that no pool walks a thousand connections on every request."""

import asyncio

from playground.providers.clients import LIMITS, POOLS, SpreadTransport, aclose_all, client_for


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


def test_the_pools_share_the_limits():
    transport = SpreadTransport(pools=POOLS, limits=LIMITS)
    limits = [pool._pool._max_connections for pool in transport.pools]
    kept_alive = [pool._pool._max_keepalive_connections for pool in transport.pools]

    assert len(transport.pools) == POOLS
    assert sum(limits) == LIMITS.max_connections
    assert sum(kept_alive) == LIMITS.max_keepalive_connections  # 200 over 16 pools: 12 or 13
    assert max(kept_alive) - min(kept_alive) == 1


def test_requests_held_at_once_are_spread_evenly_over_the_pools(openai_fake):
    held = 4 * POOLS
    openai_fake.hang_next(times=held, on="models")

    async def scenario():
        client = client_for("openai")
        url, key = f"{openai_fake.base_url}/models", f"Bearer {openai_fake.api_key}"
        requests = [
            asyncio.create_task(client.get(url, headers={"Authorization": key}))
            for _ in range(held)
        ]
        await asyncio.to_thread(
            openai_fake.wait_for, lambda: len(openai_fake.requests_to("models")) == held
        )
        open_per_pool = [len(pool._pool.connections) for pool in client._transport.pools]
        openai_fake.release()
        answers = await asyncio.gather(*requests)
        await aclose_all()
        return open_per_pool, answers

    open_per_pool, answers = asyncio.run(scenario())
    assert open_per_pool == [4] * POOLS  # one pool would hold all of them
    assert [answer.status_code for answer in answers] == [200] * held
