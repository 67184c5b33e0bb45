"""The catalog pages: the model index, one documentation page per model, pricing, the FAQ, the
API reference and the sitemap. Server-rendered; the index filters with htmx or a plain form."""

from django.conf import settings
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from playground.gateway.selectors import gallery_list

from . import docs
from .examples import KEY_ENV, api_base_url, model_examples
from .forms import ModelFilterForm
from .gallery import gallery_placeholders
from .selectors import (
    catalog_current,
    model_entries,
    model_entries_filtered,
    model_entry_get,
    provider_names_offered,
)


@require_GET
@vary_on_headers("HX-Request", "HX-History-Restore-Request")
def model_list(request):
    entries = model_entries()
    providers = {slug: name for entry in entries for slug, name in entry.providers.items()}
    form = ModelFilterForm(request.GET, providers=dict(sorted(providers.items())))
    shown = model_entries_filtered(entries, **form.filters())
    # htmx asks for the whole page when it restores a history entry it no longer holds.
    is_fragment = request.htmx and not request.htmx.history_restore_request
    template = "catalog/model_list.html#results" if is_fragment else "catalog/model_list.html"
    return render(request, template, {"form": form, "entries": shown, "total": len(entries)})


@require_GET
def model_detail(request, slug: str):
    entry = model_entry_get(slug=slug)
    if entry is None:
        raise Http404("No such model.")
    groups = docs.model_parameter_groups(entry)
    names = [row.name for group in groups for row in group.rows]
    base_url = api_base_url(request)
    context = {
        "entry": entry,
        "model": entry.model,
        "parameter_groups": groups,
        "size_presets": docs.size_presets(entry.model, offerings=entry.offerings),
        "offerings_take": docs.offerings_take(entry),
        "normalization": docs.normalization_table(entry, names=names),
        "behaviours": docs.BEHAVIOURS,
        "examples": model_examples(entry.model, base_url=base_url),
        "base_url": base_url,
        "key_env": KEY_ENV,
        "gallery": gallery_list(model=entry.model),
        "placeholders": gallery_placeholders(entry.model),
    }
    return render(request, "catalog/model_detail.html", context)


@require_GET
def pricing(request):
    return render(request, "catalog/pricing.html", {"entries": model_entries()})


@require_GET
def faq(request):
    return render(request, "catalog/faq.html", {"providers": provider_names_offered()})


@require_GET
def api_docs(request):
    catalog = catalog_current()
    models = list(catalog.models)
    context = {
        "models": models,
        "parameter_groups": docs.api_parameter_groups(models, providers=catalog.provider_names),
        "base_url": api_base_url(request),
        "key_env": KEY_ENV,
        "max_upload_mb": settings.MAX_UPLOAD_BYTES // (1024 * 1024),
        "max_input_images": settings.MAX_INPUT_IMAGES,
        "max_edit_megapixels": settings.MAX_EDIT_PIXELS // 1_000_000,
        "max_decodes": settings.MAX_DECODES_PER_USER,
        "rate_limit": settings.API_RATE_LIMIT_PER_MINUTE,
        "keepalive_seconds": settings.STREAM_KEEPALIVE_SECONDS,
        "sizes": models[0].sizes if models else None,
        "size_presets": docs.size_presets(models[0]) if models else [],
    }
    return render(request, "catalog/api_docs.html", context)


@require_GET
def sitemap(request):
    paths = [
        reverse("home"),
        reverse("catalog:model-list"),
        *(reverse("catalog:model-detail", args=[model.slug]) for model in catalog_current().models),
        reverse("catalog:pricing"),
        reverse("catalog:faq"),
        reverse("catalog:api-docs"),
        *(reverse(name) for name in ("terms", "privacy", "contact", "status")),
    ]
    urls = [request.build_absolute_uri(path) for path in paths]
    return render(request, "catalog/sitemap.xml", {"urls": urls}, content_type="application/xml")
