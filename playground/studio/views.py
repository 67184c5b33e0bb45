from asgiref.sync import async_to_sync
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event

from playground.accounts.errors import AccountError
from playground.catalog.models import Mode
from playground.catalog.selectors import model_list_active
from playground.gateway.errors import GatewayError
from playground.gateway.models import Generation
from playground.gateway.schemas import GenerationRequest
from playground.gateway.services import generation_submit
from playground.gateway.tasks import run_generation

from .forms import PlaygroundForm
from .selectors import generation_list_recent


@require_GET
def playground(request):
    form = PlaygroundForm(models=list(model_list_active()))
    recent = generation_list_recent(user=request.user) if request.user.is_authenticated else []
    return render(request, "studio/playground.html", {"form": form, "generations": recent})


@login_required
@require_POST
def generate(request):
    form = PlaygroundForm(request.POST, models=list(model_list_active()))
    if form.is_valid():
        try:
            generation, _ = async_to_sync(generation_submit)(
                user=request.user,
                base_url=request.build_absolute_uri("/"),
                request=GenerationRequest(
                    mode=Mode.GENERATE,
                    model=form.cleaned_data["model"],
                    prompt=form.cleaned_data["prompt"],
                    size=form.cleaned_data["size"],
                ),
                source=Generation.Source.PLAYGROUND,
            )
        except (GatewayError, AccountError) as exc:
            form.add_error(None, getattr(exc, "message", str(exc)))
        else:
            run_generation.enqueue(str(generation.pk))
            if not request.htmx:
                return redirect("studio:playground")
            response = render(request, "studio/playground.html#card", {"generation": generation})
            return trigger_client_event(response, "balance-changed")
    template = "studio/playground.html#form" if request.htmx else "studio/playground.html"
    return render(request, template, {"form": form}, status=400 if not request.htmx else 200)


@login_required
@require_GET
def generation_card(request, generation_id):
    generation = get_object_or_404(
        Generation.objects.prefetch_related("images"), pk=generation_id, user=request.user
    )
    response = render(request, "studio/playground.html#card", {"generation": generation})
    if generation.is_finished:
        trigger_client_event(response, "balance-changed")
    return response
