"""Property-based fuzzing of `/v1/`, against the site under uvicorn with a real API key.

1. Schemathesis reads the live `/v1/openapi.json` and, for every operation, sends data that fits
   the document (positive) and data that does not (negative).
2. Hypothesis sends hostile JSON bodies the document's schema would never produce: lone
   surrogates, NUL characters, NaN and Infinity, huge numbers, deep nesting, odd keys.

Whatever comes in: no 5xx, only the status codes the document lists, every error OpenAI's
envelope, every success shaped as documented, and the ledger still balances. Bounded: a few
examples per operation, no Hypothesis database, derandomized, so the run is repeatable and
quick. Nothing leaves the machine: the demo provider serves every generation, no case carries
a `webhook_url`, and image URLs point at the `.invalid` domain, which never resolves (RFC 6761).
Run with `-s` for a summary: examples and statuses per operation.
"""

import json
import os
from collections import Counter

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from playground.gateway.models import Generation
from playground.gateway.openapi import ERROR_STATUSES
from playground.providers.registry import PROVIDER_CLASSES
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

# FUZZ_SCALE=10 explores: ten times the examples, from a random seed.
SCALE = int(os.environ.get("FUZZ_SCALE") or 1)
EXAMPLES_PER_OPERATION = {GenerationMode.POSITIVE: 15 * SCALE, GenerationMode.NEGATIVE: 15 * SCALE}
HOSTILE_EXAMPLES = 60 * SCALE
REQUEST_TIMEOUT_SECONDS = 20
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
ENVELOPE_KEYS = {"message", "type", "param", "code"}
DOCUMENTED = {200, 202} | {int(status) for status in ERROR_STATUSES}
# Documented, but only when providers fail: the demo provider serving these tests never does.
UPSTREAM_STATUSES = {502, 503}
SETTINGS = {
    "deadline": None,
    "database": None,
    "derandomize": SCALE == 1,
    "phases": [Phase.explicit, Phase.generate],  # report the case found, do not shrink it
    "suppress_health_check": list(HealthCheck),
}


@pytest.fixture
def fuzzed(asgi_server, api_key, settings, monkeypatch):
    """The server, with no rate limit in the way and no provider but the demo; `(base_url,
    headers)`."""
    for provider in PROVIDER_CLASSES.values():
        if provider.key_env:
            monkeypatch.delenv(provider.key_env, raising=False)
    settings.API_RATE_LIMIT_PER_MINUTE = 100_000
    settings.API_RATE_LIMIT_PER_IP_PER_MINUTE = 100_000
    return asgi_server, {"Authorization": f"Bearer {api_key}"}


def assert_envelope(response, label: str) -> None:
    body = response.json()
    assert set(body) == {"error"}, (label, body)
    assert set(body["error"]) == ENVELOPE_KEYS, (label, body)
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], (label, body)
    assert isinstance(body["error"]["type"], str), (label, body)


def assert_nothing_left_held(user) -> None:
    assert not Generation.objects.filter(
        status__in=[Generation.Status.QUEUED, Generation.Status.RUNNING]
    ).exists()
    assert factories.balance_micros(user) == factories.ledger_sum_micros(user)


def offline(case):
    """`case` with nothing that would make the server call out: no webhook, image URLs on a
    domain that never resolves."""
    if isinstance(case.body, dict):
        case.body.pop("webhook_url", None)
        for name in ("image", "image[]", "mask"):
            case.body[name] = _unresolvable(case.body.get(name))
        case.body = {name: value for name, value in case.body.items() if value is not None}
    return case


def _unresolvable(value):
    if isinstance(value, list):
        return [_unresolvable(item) for item in value]
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        return "https://images.invalid/" + value.partition("://")[2].partition("/")[2]
    return value


def fuzz_operation(operation, mode, count, *, base_url, headers, seen) -> list[str]:
    """Run `count` examples of `operation` in `mode`; the failures found, with a curl line."""
    label = f"{mode} {operation.label}"

    @given(case=operation.as_strategy(generation_mode=mode).map(offline))
    @settings(max_examples=count, **SETTINGS)
    def run(case):
        response = case.call(base_url=base_url, headers=headers, timeout=REQUEST_TIMEOUT_SECONDS)
        seen.setdefault(label, Counter())[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS)
            if response.status_code >= 400:
                assert_envelope(response, label)
        except (AssertionError, FailureGroup) as exc:
            raise AssertionError(
                f"{label}: {exc}\n{case.as_curl_command(headers=headers)}\n"
                f"-> {response.status_code} {response.text[:300]}"
            ) from None

    try:
        run()
    except AssertionError as exc:
        return [str(exc)]
    return []


def test_the_api_survives_fuzzing_from_its_openapi_document(fuzzed, user):
    base_url, headers = fuzzed
    schema = schemathesis.openapi.from_url(f"{base_url}/v1/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.label for op in operations} == {
        "POST /images/generations",
        "POST /images/edits",
        "GET /generations/{id}",
        "GET /models",
        "GET /models/{model}",
    }
    seen: dict[str, Counter] = {}

    failures = [
        failure
        for operation in operations
        for mode, count in EXAMPLES_PER_OPERATION.items()
        for failure in fuzz_operation(
            operation, mode, count, base_url=f"{base_url}/v1", headers=headers, seen=seen
        )
    ]

    print(f"\nschemathesis: {len(operations)} operations, {len(failures)} failures")
    for label, statuses in sorted(seen.items()):
        print(f"  {label}: {statuses.total()} examples, statuses {dict(sorted(statuses.items()))}")
    assert not failures, "\n\n".join(failures)
    statuses = set().union(*seen.values())
    assert {200, 400, 401, 404} <= statuses, seen  # it got past validation, and was refused
    assert not statuses & UPSTREAM_STATUSES, seen
    assert_nothing_left_held(user)
    assert httpx.get(f"{base_url}/healthz").status_code == 200


# Hostile JSON: what a schema-driven generator does not send, but a client can.

ODD_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(codec=None, categories=["Cs"]),  # lone surrogates
        st.sampled_from(["\x00", "\u202e", "\ufeff", "\u0301", "\U0001f600", "\\", '"']),
        st.characters(),
    ),
    max_size=12,
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    ODD_TEXT,
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ODD_TEXT, inner, max_size=3),
    max_leaves=12,
)
PARAMETERS = ["model", "prompt", "negative_prompt", "n", "size", "aspect_ratio", "resolution"]
PARAMETERS += ["seed", "response_format", "output_format", "output_compression", "webhook_url"]
PARAMETERS += ["cfg_scale", "strength", "num_inference_steps", "image", "image[]", "user"]
BODIES = st.one_of(
    JSON_VALUES,
    st.fixed_dictionaries(
        {"prompt": st.one_of(ODD_TEXT, st.just("a lighthouse")), "size": st.just("64x64")},
        optional={name: JSON_VALUES for name in PARAMETERS if name not in ("prompt", "size")}
        | {"extra_flag": JSON_VALUES},
    ),
)
REGRESSIONS = [  # each once answered 500 here
    b'{"prompt": "\\ud800"}',
    b'{"prompt": "x", "size": "64x64", "flag": "\\udfff"}',
    b'{"prompt": "x", "size": "64x64", "\\udfff": 1}',
    b'{"prompt": "x", "size": "64x64", "flag": "a\\u0000b"}',
    b'{"prompt": "x", "size": "64x64", "flag": NaN}',
    b'{"prompt": "x", "size": "64x64", "flag": ' + b"[" * 3000 + b"]" * 3000 + b"}",
    b"[" * 100_000,
    b'{"prompt": "x", "n": ' + b"9" * 5000 + b"}",
    b'{"prompt": "x", "image": [{}]}',
    b'{"prompt": "x", "image": "http://example.com:99999/a.png"}',
    b'{"prompt": "x", "image": "http://[::1/a.png"}',
    b'{"prompt": "x", "image": "http://\\u00ad.com/a.png"}',
    b'{"prompt": "x", "image": "data:image/png;base64,\\u00e9"}',
]


def test_hostile_json_bodies_get_a_clear_answer(fuzzed, user):
    base_url, headers = fuzzed
    api = httpx.Client(base_url=f"{base_url}/v1", headers=headers, timeout=REQUEST_TIMEOUT_SECONDS)

    @given(path=st.sampled_from(["/images/generations", "/images/edits"]), body=BODIES)
    @settings(max_examples=HOSTILE_EXAMPLES, **SETTINGS)
    def post_json(path, body):
        post(path, json.dumps(body).encode())  # NaN and Infinity go out as such, on purpose

    def post(path: str, raw: bytes) -> None:
        response = api.post(path, content=raw, headers={"Content-Type": "application/json"})
        label = f"POST {path} {raw[:200]!r}"
        assert response.status_code in DOCUMENTED - UPSTREAM_STATUSES, (
            label,
            response.status_code,
            response.text[:300],
        )
        if response.status_code >= 400:
            assert_envelope(response, label)

    for path in ("/images/generations", "/images/edits"):
        for raw in REGRESSIONS:
            post(path, raw)
    post_json()

    assert_nothing_left_held(user)
    assert httpx.get(f"{base_url}/healthz").status_code == 200


@pytest.mark.parametrize("path", ["/v1/generations/%0A", "/v1/x%0Ay", "/v1/%0A%0D%00"])
def test_a_path_with_control_characters_answers_in_the_envelope(fuzzed, path):
    """Found by the fuzzer: the catch-all did not match a newline, so Django's HTML 404
    answered."""
    base_url, headers = fuzzed

    response = httpx.get(f"{base_url}{path}", headers=headers)

    assert response.status_code == 404
    assert_envelope(response, path)
