"""Which offerings may serve a request, and how: served as asked first, then mapped, each
cheapest first (`fit.py` decides per offering)."""

from dataclasses import asdict, dataclass, field
from typing import Any

from playground.catalog.capabilities import ANY, Capabilities
from playground.catalog.models import ImageModel, Offering
from playground.catalog.pricing import price_micros
from playground.providers.base import Provider
from playground.providers.registry import configured_providers, demo_provider

from .errors import InvalidRequest
from .fit import Asked, Unfit, model_check, offering_fit


@dataclass(frozen=True, kw_only=True)
class Route:
    """One offering to try: a provider, the model's id there, what this request costs there,
    and the request as fitted to it (`fit.Fit`)."""

    provider: str
    provider_model_id: str
    cost_micros: int
    width: int
    height: int
    size_name: str | None = None
    image_list: bool = True
    params: dict[str, Any] = field(default_factory=dict)
    mapped: list[dict[str, str]] = field(default_factory=list)
    resize: list[int] | None = None

    def as_json(self) -> dict:
        return asdict(self)


def route_plan(*, model: ImageModel, mode: str, asked: Asked, n: int) -> list[Route]:
    """The routes for a request: the model's offerings whose provider is configured and that can
    serve it, those that serve it as asked before those that map it, cheapest first in each.

    A provider that serves every model (an OpenAI-compatible upstream) and has no offering of
    its own for this one serves it under the model's id, at the cheapest listed price. When no
    real provider is configured at all, the demo provider takes the place of the best route, so
    that sizes and balances move exactly as they would in production.

    When offerings exist but none of the configured ones can serve the request, the caller's
    error names the parameter and what the first of them accepts.
    """
    offerings = [o for o in model.offerings.all() if o.is_active and mode in o.modes]
    if not offerings:
        return []
    model_check([offering.takes for offering in offerings], asked, model=model.slug)
    configured = configured_providers()
    serving = [o for o in offerings if o.provider in configured] if configured else offerings
    routes, refusals = [], []
    for offering in serving:
        try:
            routes.append(_route(offering, offering.takes, asked, n))
        except Unfit as refusal:
            refusals.append(refusal)
    routes.sort(key=lambda route: (bool(route.mapped), route.cost_micros))
    if not configured:
        best = routes[0] if routes else None
        return [_as_provider(best, demo_provider(), model)] if best else _refused(model, refusals)
    listed = {offering.provider for offering in offerings}
    upstreams = [p for p in configured.values() if p.serves_every_model and p.slug not in listed]
    if upstreams:
        cheapest = min(offerings, key=lambda o: _cost(o, asked.width, asked.height, n))
        at_list_price = _route(cheapest, ANY, asked, n)
        routes += [_as_provider(at_list_price, provider, model) for provider in upstreams]
    return routes or _refused(model, refusals)


def _route(offering: Offering, takes: Capabilities, asked: Asked, n: int) -> Route:
    """The route to `offering` for `asked`, as an offering that `takes` what it says."""
    fit = offering_fit(takes, asked)
    return Route(
        provider=offering.provider,
        provider_model_id=offering.provider_model_id,
        cost_micros=_cost(offering, fit.width, fit.height, n),
        width=fit.width,
        height=fit.height,
        size_name=fit.size_name,
        image_list=takes.image_list,
        params=fit.params,
        mapped=fit.mapped,
        resize=list(fit.resize) if fit.resize else None,
    )


def _cost(offering: Offering, width: int, height: int, n: int) -> int:
    return price_micros(
        price_micros=offering.price_micros,
        price_unit=offering.price_unit,
        width=width,
        height=height,
        n=n,
    )


def _as_provider(route: Route, provider: Provider, model: ImageModel) -> Route:
    return Route(**route.as_json() | {"provider": provider.slug, "provider_model_id": model.slug})


def _refused(model: ImageModel, refusals: list[Unfit]) -> list[Route]:
    if not refusals:
        return []
    first = refusals[0]
    raise InvalidRequest(f"{model.slug} {first.message}.", param=first.param)


def provider_for(route: Route) -> Provider:
    if route.provider == demo_provider().slug:
        return demo_provider()
    return configured_providers()[route.provider]
