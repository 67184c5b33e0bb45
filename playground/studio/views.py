"""The playground pages: run a model and follow the job, compare models, browse the history.

Full pages render the templates; htmx requests get the fragments (`{% partialdef %}` in the
page, or `studio/partials/` when several pages share them).
"""

import dataclasses
from urllib.parse import urlencode
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import (
    HttpResponseClientRedirect,
    push_url,
    reswap,
    retarget,
    trigger_client_event,
)

from playground.accounts.selectors import request_balance_micros, starter_credits_offer_micros
from playground.catalog.models import ImageModel
from playground.catalog.selectors import catalog_current
from playground.gateway.errors import CALLER_ERRORS, as_gateway_error
from playground.gateway.models import Generation, GenerationImage
from playground.gateway.selectors import gallery_image_get, webhook_delivery_list
from playground.gateway.services import generation_cancel, image_publish, image_unpublish

from .forms import (
    CompareForm,
    HistoryFilterForm,
    PromptForm,
    RunForm,
    initial_from_generation,
    initial_from_published,
)
from .selectors import (
    RunPrice,
    generation_list_by_ids,
    generation_list_for,
    generation_list_recent,
    model_options,
    option_find,
    run_price,
)
from .services import GenerationBusy, generation_delete, generation_start

HISTORY_PAGE_SIZE = 20
# Gateway error parameters that belong to a differently named form field.
PARAM_FIELDS = {"image": "images", "size": "width"}


@require_GET
def playground(request):
    options = model_options()
    if not options:  # an empty catalog: the page says so
        return _playground_page(request, None)
    initial = _playground_initial(request, options)
    option = option_find(options, initial.get("model")) or _first(options)
    form = RunForm(
        initial=initial | {"model": option.value}, **_run_setup(request, options, option)
    )
    return _playground_page(request, form)


@require_GET
@vary_on_headers("HX-Request")
def controls(request):
    """The chosen model's own controls, keeping the values typed so far."""
    options = model_options()
    option = option_find(options, request.GET.get("model"))
    if option is None:
        raise Http404("No such model.")
    url = f"{reverse('studio:playground')}?{urlencode({'model': option.value})}"
    if not request.htmx:
        return redirect(url)
    form = RunForm(
        initial=_values(request.GET) | {"model": option.value},
        **_run_setup(request, options, option),
    )
    response = render(
        request,
        "studio/playground.html#controls",
        {"form": form, "price": _run_price(request, form)},
    )
    return push_url(response, url)


@require_GET
def quote(request):
    """The price of the run the form describes, next to the balance, with the run button."""
    options = model_options()
    option = option_find(options, request.GET.get("model")) or _first(options)
    form = RunForm(request.GET, **_run_setup(request, options, option))
    return _price_fragment(request, form, quote_url="studio:quote", submit_label="Generate")


@login_required
@require_POST
@vary_on_headers("HX-Request")
def generate(request):
    options = model_options()
    option = option_find(options, request.POST.get("model")) or _first(options)
    form = RunForm(request.POST, request.FILES, **_run_setup(request, options, option))
    if form.is_valid():
        try:
            generation = generation_start(
                user=request.user,
                request=form.generation_request(images=form.input_images(), mask=form.input_mask()),
                base_url=request.build_absolute_uri("/"),
            )
        except CALLER_ERRORS as exc:
            error = as_gateway_error(exc)
            field = PARAM_FIELDS.get(error.param, error.param)
            form.add_error(field if field in form.fields else None, error.message)
        else:
            if not request.htmx:
                return redirect("studio:playground")
            return _card_response(request, generation)
    if request.htmx:
        response = render(
            request,
            "studio/playground.html#controls",
            {"form": form, "price": _run_price(request, form)},
        )
        return reswap(retarget(response, "#controls"), "outerHTML")
    return _playground_page(request, form, status=400)


@login_required
@require_GET
@vary_on_headers("HX-Request")
def card(request, generation_id: UUID):
    """A job's card while it is followed: the progress part until the job has settled, then
    the whole card (retargeted to replace the one on the page)."""
    generation = _own_generation(request, generation_id)
    if not request.htmx:
        return redirect("studio:generation", generation.pk)
    context = {"generation": generation, "announce": request.GET.get("seen") != generation.status}
    if generation.finished_at is None:
        return render(request, "studio/partials/card.html#progress", context)
    response = render(request, "studio/partials/card.html", context)
    retarget(response, f"#gen-{generation.pk}")
    return trigger_client_event(reswap(response, "outerHTML"), "balance-changed")


@login_required
@require_POST
@vary_on_headers("HX-Request")
def cancel(request, generation_id: UUID):
    """Cancel a queued job (released at once) or a running one (its worker stops it upstream,
    then releases the credits)."""
    generation = _own_generation(request, generation_id)
    generation_cancel(generation=generation)
    generation.refresh_from_db()
    if not request.htmx:
        return redirect("studio:generation", generation.pk)
    return _card_response(request, generation)


@login_required
@require_GET
def detail(request, generation_id: UUID):
    generation = _own_generation(request, generation_id)
    context = {
        "generation": generation,
        "provider_name": catalog_current().provider_names.get(
            generation.provider, generation.provider
        ),
        "webhook_deliveries": webhook_delivery_list(generation=generation),
    }
    return render(request, "studio/generation.html", context)


@login_required
@require_POST
@vary_on_headers("HX-Request")
def delete(request, generation_id: UUID):
    generation = _own_generation(request, generation_id)
    try:
        generation_delete(generation=generation)
    except GenerationBusy as exc:
        messages.error(request, str(exc))
        return _redirect(request, reverse("studio:generation", args=[generation.pk]))
    messages.success(request, "The generation and its images were deleted.")
    return _redirect(request, reverse("studio:history"))


@login_required
@require_GET
def download(request, image_id: int):
    """A result image as a file download, named after its model and seed."""
    image = get_object_or_404(
        GenerationImage.objects.select_related("generation__model"),
        pk=image_id,
        generation__user=request.user,
        generation__deleted_at__isnull=True,
    )
    generation = image.generation
    extension = image.file.name.rpartition(".")[2]
    seed = generation.seed if image.seed is None else image.seed
    return FileResponse(
        image.file.open("rb"),
        as_attachment=True,
        filename=f"{generation.model.slug}-{seed}-{image.index + 1}.{extension}",
        content_type=image.content_type,
    )


@login_required
@require_POST
@vary_on_headers("HX-Request")
def publish(request, image_id: int):
    """Show a result image in its model's gallery."""
    return _gallery_change(request, image_id, image_publish)


@login_required
@require_POST
@vary_on_headers("HX-Request")
def unpublish(request, image_id: int):
    """Take a result image out of its model's gallery."""
    return _gallery_change(request, image_id, image_unpublish)


@login_required
@require_GET
@vary_on_headers("HX-Request")
def history(request):
    models = ImageModel.objects.filter(generations__user=request.user).distinct()
    form = HistoryFilterForm(request.GET, models=list(models))
    filters = form.cleaned_data if form.is_valid() else {}
    generations = generation_list_for(user=request.user, **filters)
    page = Paginator(generations, HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    template = "studio/history.html#list" if request.htmx else "studio/history.html"
    return render(request, template, {"form": form, "page": page})


@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def compare(request):
    """One prompt on two to four models side by side. The comparison's URL names its jobs, so a
    reload or a shared tab shows them again."""
    options = model_options()
    if request.method == "POST":
        return _compare_start(request, CompareForm(request.POST, options=options))
    ids = [_uuid(value) for value in request.GET.getlist("g")]
    group = (
        generation_list_by_ids(user=request.user, ids=ids)
        if ids and request.user.is_authenticated
        else []
    )
    form = CompareForm(initial=_values(request.GET), options=options)
    return _compare_page(request, form, group)


def _compare_start(request, form: CompareForm):
    """Start one job per model; errors of single models are shown next to the others."""
    if not request.user.is_authenticated:
        return redirect_to_login(reverse("studio:compare"))
    group, errors = [], []
    if form.is_valid():
        for generation_request in form.generation_requests():
            try:
                group.append(
                    generation_start(
                        user=request.user,
                        request=generation_request,
                        base_url=request.build_absolute_uri("/"),
                    )
                )
            except CALLER_ERRORS as exc:
                errors.append(f"{generation_request.model}: {as_gateway_error(exc).message}")
    if not group:
        for error in errors:
            form.add_error(None, error)
        if not request.htmx:
            return _compare_page(request, form, group, status=400)
        response = render(
            request,
            "studio/compare.html#form",
            {"form": form, "price": _run_price(request, form)},
        )
        return reswap(retarget(response, "#compare-form"), "outerHTML")
    url = f"{reverse('studio:compare')}?{urlencode([('g', g.pk) for g in group])}"
    if not request.htmx:
        for error in errors:
            messages.error(request, error)
        return redirect(url)
    response = render(request, "studio/compare.html#group", {"group": group, "errors": errors})
    return trigger_client_event(push_url(response, url), "balance-changed")


@require_GET
def compare_quote(request):
    form = CompareForm(request.GET, options=model_options())
    return _price_fragment(request, form, quote_url="studio:compare-quote", submit_label="Compare")


# Helpers


def _first(options):
    if not options:
        raise Http404("No model is available.")
    return options[0]


def _run_setup(request, options, option) -> dict:
    return {"options": options, "option": option, "user": request.user}


def _values(query: QueryDict) -> dict:
    """A query string as form values: lists for repeated names."""
    return {name: values if len(values) > 1 else values[0] for name, values in query.lists()}


def _playground_initial(request, options) -> dict:
    """The form's starting values: a run to repeat (`reuse`), a published image to make again
    (`gallery`, the galleries' "reuse these settings"), an image to edit (`image`), or the
    model and values named in the query (the catalog links to `?model=<id>`)."""
    query = request.GET
    if query.get("gallery", "").isdigit():
        image = gallery_image_get(pk=query["gallery"])
        if image is None:
            raise Http404("No such image in the galleries.")
        return initial_from_published(image)
    if query.get("reuse") and request.user.is_authenticated:
        return initial_from_generation(_own_generation(request, _uuid(query["reuse"])))
    if query.get("image", "").isdigit() and request.user.is_authenticated:
        image = get_object_or_404(
            GenerationImage.objects.select_related("generation__model"),
            pk=query["image"],
            generation__user=request.user,
            generation__deleted_at__isnull=True,
        )
        # The image's own model if it edits, else the first model made only for editing.
        editors = sorted((o for o in options if o.is_edit), key=lambda o: len(o.model.modes))
        option = option_find(editors, image.generation.model.slug) or _first(editors)
        return {"model": option.value, "picks": [image.pk]}
    return _values(query)


def _playground_page(request, form: RunForm | None, *, status: int = 200):
    recent = generation_list_recent(user=request.user) if request.user.is_authenticated else []
    context = {
        "form": form,
        "price": _run_price(request, form) if form else None,
        "generations": recent,
    }
    return render(request, "studio/playground.html", context, status=status)


def _compare_page(request, form: CompareForm, group: list, *, status: int = 200):
    context = {"form": form, "price": _run_price(request, form), "group": group}
    return render(request, "studio/compare.html", context, status=status)


def _run_price(request, form: PromptForm) -> RunPrice:
    """The run's price; short of credits, with the starter credits the user has yet to get."""
    error, requests = form.price_inputs()
    price = run_price(requests=requests, balance=request_balance_micros(request), error=error)
    if not price.is_short:
        return price
    offer_micros = starter_credits_offer_micros(user_id=request.user.pk)
    return dataclasses.replace(price, starter_offer_micros=offer_micros)


def _price_fragment(request, form: PromptForm, *, quote_url: str, submit_label: str):
    context = {
        "price": _run_price(request, form),
        "quote_url": quote_url,
        "submit_label": submit_label,
    }
    return render(request, "studio/partials/runbar.html#price", context)


def _card_response(request, generation: Generation):
    """The whole card after a change the user made (started, cancelled), said out loud."""
    response = render(
        request, "studio/partials/card.html", {"generation": generation, "announce": True}
    )
    return trigger_client_event(response, "balance-changed")


def _gallery_change(request, image_id: int, change):
    """Publish or unpublish (`change`) the user's image, then show the generation's gallery
    choices again; another user's image, or one that cannot be published, is not found."""
    if not change(user=request.user, image_id=image_id):
        raise Http404("No such image.")
    image = get_object_or_404(GenerationImage.objects.only("generation_id"), pk=image_id)
    generation = _own_generation(request, image.generation_id)
    if not request.htmx:
        return redirect("studio:generation", generation.pk)
    return render(request, "studio/generation.html#gallery", {"generation": generation})


def _own_generation(request, generation_id: UUID) -> Generation:
    return get_object_or_404(
        Generation.objects.select_related("model").prefetch_related("images"),
        pk=generation_id,
        user=request.user,
        deleted_at__isnull=True,
    )


def _uuid(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise Http404("No such generation.") from None


def _redirect(request, url: str):
    """A redirect that htmx follows as a full page load."""
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
