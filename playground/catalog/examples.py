"""The code examples of a model's page: curl, Python and JavaScript (both with the OpenAI SDK)
for each of its modes, with this site's base URL and the model id filled in.

The prompts and input file names come from the model's `docs["examples"]`. Every string goes in
through `json.dumps` (a valid string literal in Python and JavaScript alike) or `shlex.quote`, so
any prompt gives code that runs. The API key is read from the environment variable `KEY_ENV`.
"""

import json
import shlex
from dataclasses import dataclass

from django.conf import settings

from .models import ImageModel, Mode

KEY_ENV = "PLAYGROUND_API_KEY"
EXAMPLE_SEED = 42
FALLBACK_PROMPTS = {
    Mode.GENERATE: "A lighthouse on a cliff at dawn, watercolour",
    Mode.EDIT: "Replace the sky with a warm sunset",
}
FALLBACK_IMAGES = ["source.png"]


@dataclass(frozen=True, kw_only=True)
class CodeSample:
    language: str
    label: str
    code: str


@dataclass(frozen=True, kw_only=True)
class ModeExamples:
    mode: str
    title: str
    path: str  # relative to the base URL, which ends in /v1
    images: list[str]
    samples: list[CodeSample]


def api_base_url(request) -> str:
    """This deployment's API address as the caller reached it, ending in /v1."""
    return request.build_absolute_uri(settings.API_PREFIX.removesuffix("/"))


def model_examples(model: ImageModel, *, base_url: str) -> list[ModeExamples]:
    """One set of samples per mode of `model`; `base_url` ends in /v1."""
    data = model.docs.get("examples", {})
    width, height = model.default_size
    size = f"{width}x{height}"
    examples = []
    for mode in model.modes:
        prompt = data.get(mode) or FALLBACK_PROMPTS[mode]
        if mode == Mode.GENERATE:
            examples.append(
                ModeExamples(
                    mode=mode,
                    title=Mode(mode).label,
                    path="/images/generations",
                    images=[],
                    samples=_generate_samples(base_url, model.slug, prompt, size),
                )
            )
        else:
            images = data.get("edit_images") or FALLBACK_IMAGES
            examples.append(
                ModeExamples(
                    mode=mode,
                    title=Mode(mode).label,
                    path="/images/edits",
                    images=images,
                    samples=_edit_samples(base_url, model.slug, prompt, size, images),
                )
            )
    return examples


def _generate_samples(base_url: str, model: str, prompt: str, size: str) -> list[CodeSample]:
    body = {"model": model, "prompt": prompt, "size": size, "seed": EXAMPLE_SEED}
    curl = "\n".join(
        [
            f"curl {shlex.quote(base_url + '/images/generations')} \\",
            f'  -H "Authorization: Bearer ${KEY_ENV}" \\',
            '  -H "Content-Type: application/json" \\',
            f"  -d {shlex.quote(json.dumps(body, indent=2).replace(chr(10), chr(10) + '  '))}",
        ]
    )
    python = "\n".join(
        [
            *_python_client(base_url),
            "result = client.images.generate(",
            f"    model={_literal(model)},",
            f"    prompt={_literal(prompt)},",
            f"    size={_literal(size)},",
            f'    extra_body={{"seed": {EXAMPLE_SEED}}},  # parameters the SDK does not know',
            ")",
            "print(result.data[0].url)",
        ]
    )
    javascript = "\n".join(
        [
            'import OpenAI from "openai";',
            "",
            *_javascript_client(base_url),
            "const result = await client.images.generate({",
            f"  model: {_literal(model)},",
            f"  prompt: {_literal(prompt)},",
            f"  size: {_literal(size)},",
            f"  seed: {EXAMPLE_SEED}, // parameters the SDK does not know are sent as they are",
            "});",
            "console.log(result.data[0].url);",
        ]
    )
    return _samples(curl, python, javascript)


def _edit_samples(
    base_url: str, model: str, prompt: str, size: str, images: list[str]
) -> list[CodeSample]:
    fields = [f"model={model}", *(f"image=@{name}" for name in images)]
    fields += [f"prompt={prompt}", f"size={size}"]
    curl = " \\\n".join(
        [
            f"curl {shlex.quote(base_url + '/images/edits')}",
            f'  -H "Authorization: Bearer ${KEY_ENV}"',
            *(f"  -F {shlex.quote(field)}" for field in fields),
        ]
    )
    py_files = [f'open({_literal(name)}, "rb")' for name in images]
    # toFile reads the picture first: a bare stream would go out as a chunked upload, which
    # some servers and proxies do not accept.
    js_files = [f"await toFile(fs.createReadStream({_literal(name)}))" for name in images]
    python = "\n".join(
        [
            *_python_client(base_url),
            "result = client.images.edit(",
            f"    model={_literal(model)},",
            f"    image={_one_or_list(py_files)},",
            f"    prompt={_literal(prompt)},",
            f"    size={_literal(size)},",
            ")",
            "print(result.data[0].url)",
        ]
    )
    javascript = "\n".join(
        [
            'import fs from "node:fs";',
            'import OpenAI, { toFile } from "openai";',
            "",
            *_javascript_client(base_url),
            "const result = await client.images.edit({",
            f"  model: {_literal(model)},",
            f"  image: {_one_or_list(js_files)},",
            f"  prompt: {_literal(prompt)},",
            f"  size: {_literal(size)},",
            "});",
            "console.log(result.data[0].url);",
        ]
    )
    return _samples(curl, python, javascript)


def _python_client(base_url: str) -> list[str]:
    return [
        "import os",
        "",
        "from openai import OpenAI",
        "",
        "client = OpenAI(",
        f"    base_url={_literal(base_url)},",
        f'    api_key=os.environ["{KEY_ENV}"],',
        ")",
        "",
    ]


def _javascript_client(base_url: str) -> list[str]:
    return [
        "const client = new OpenAI({",
        f"  baseURL: {_literal(base_url)},",
        f"  apiKey: process.env.{KEY_ENV},",
        "});",
        "",
    ]


def _samples(curl: str, python: str, javascript: str) -> list[CodeSample]:
    return [
        CodeSample(language="curl", label="curl", code=curl),
        CodeSample(language="python", label="Python", code=python),
        CodeSample(language="javascript", label="JavaScript", code=javascript),
    ]


def _literal(text: str) -> str:
    """A double-quoted string literal that Python and JavaScript read the same way."""
    return json.dumps(text)


def _one_or_list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"[{', '.join(items)}]"
