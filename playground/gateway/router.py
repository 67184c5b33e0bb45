"""Which providers may serve a request, cheapest first."""

from dataclasses import asdict, dataclass

from playground.catalog.models import ImageModel
from playground.catalog.pricing import price_micros
from playground.providers.base import Provider
from playground.providers.registry import configured_providers, demo_provider


@dataclass(frozen=True, kw_only=True)
class Route:
    """One offering to try: a provider, the model's id there, and what this request costs there."""

    provider: str
    provider_model_id: str
    cost_micros: int

    def as_json(self) -> dict:
        return asdict(self)


def route_plan(*, model: ImageModel, mode: str, width: int, height: int, n: int) -> list[Route]:
    """The model's offerings whose provider is configured, cheapest first.

    A provider that serves every model (an OpenAI-compatible upstream) and has no offering of
    its own for this one serves it under the model's id, at the model's cheapest listed price.
    When no real provider is configured at all, the demo provider serves it the same way, so
    that balances move exactly as they will in production.
    """
    offerings = [o for o in model.offerings.all() if o.is_active and mode in o.modes]
    priced = sorted(
        (
            Route(
                provider=offering.provider,
                provider_model_id=offering.provider_model_id,
                cost_micros=price_micros(
                    price_micros=offering.price_micros,
                    price_unit=offering.price_unit,
                    width=width,
                    height=height,
                    n=n,
                ),
            )
            for offering in offerings
        ),
        key=lambda route: route.cost_micros,
    )
    if not priced:
        return []
    configured = configured_providers()
    listed = {route.provider for route in priced}
    routes = [route for route in priced if route.provider in configured]
    routes += [
        _at_list_price(model, provider, priced)
        for provider in configured.values()
        if provider.serves_every_model and provider.slug not in listed
    ]
    return routes or [_at_list_price(model, demo_provider(), priced)]


def _at_list_price(model: ImageModel, provider: Provider, priced: list[Route]) -> Route:
    return Route(
        provider=provider.slug, provider_model_id=model.slug, cost_micros=priced[0].cost_micros
    )


def provider_for(route: Route) -> Provider:
    if route.provider == demo_provider().slug:
        return demo_provider()
    return configured_providers()[route.provider]
