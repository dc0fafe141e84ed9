"""Model names, provider credentials and building pydantic-ai models.

Models are named ``provider:model``: ``openai:gpt-5.1``, ``anthropic:claude-sonnet-4-5``,
``google:gemini-2.5-flash``, ``ollama:llama3.2``, ``local:qwen2.5-coder-1.5b`` (the named local
models are in :mod:`.weights`), ``local:/path/to/model.gguf``. Every hosted provider is reached
through pydantic-ai's model classes with the SDK's own retries turned off: the turn engine retries
(see :mod:`cowork.engine.turn`) so that each attempt is visible in the journal.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from pydantic_ai.models import Model

from .secrets import KEY_VARIABLES, SecretStoreError, provider_key
from .weights import DEFAULT_LOCAL, resolve_weights

PROVIDERS = ("openai", "anthropic", "google", "ollama", "local")

DEFAULT_MODELS = {
    "openai": "gpt-5.1",
    "anthropic": "claude-sonnet-4-5",
    "google": "gemini-2.5-flash",
    "ollama": "llama3.2",
    "local": DEFAULT_LOCAL,
}

CONTEXT_WINDOWS = {"openai": 128_000, "anthropic": 200_000, "google": 1_000_000, "ollama": 8_192}


class ModelConfigError(ValueError):
    """A model name that cannot be used: bad syntax, unknown provider, missing key or weights."""


@dataclass(frozen=True)
class ModelSpec:
    provider: str
    name: str

    def __str__(self) -> str:
        return f"{self.provider}:{self.name}"


def parse_model(value: str) -> ModelSpec:
    """Split ``provider:model``. Raises :class:`ModelConfigError` with an example on bad input."""
    provider, sep, name = value.partition(":")
    if not sep or not name:
        raise ModelConfigError(f"model {value!r} must be written provider:model, e.g. openai:gpt-5.1 or local:qwen2.5-coder-1.5b")
    if provider not in PROVIDERS:
        raise ModelConfigError(f"unknown provider {provider!r} in {value!r}; known: {', '.join(PROVIDERS)}")
    return ModelSpec(provider, name)


def _key(provider: str) -> str | None:
    """The provider's API key: its environment variable, else the store (``cowork auth set``).
    Raises :class:`ModelConfigError` when the store cannot be read."""
    try:
        found = provider_key(provider)
    except SecretStoreError as exc:
        raise ModelConfigError(str(exc)) from None
    return found[0] if found else None


def openai_base_url(explicit: str | None = None) -> str | None:
    return explicit or os.environ.get("OPENAI_BASE_URL") or None


def default_model() -> str:
    """``COWORK_MODEL``, else the first provider with a key, else the embedded model."""
    if env := os.environ.get("COWORK_MODEL"):
        return env
    for provider in ("anthropic", "openai", "google"):
        if _key(provider):
            return f"{provider}:{DEFAULT_MODELS[provider]}"
    return f"local:{DEFAULT_MODELS['local']}"


def context_window(spec: ModelSpec) -> int:
    """Tokens of context to plan for: ``COWORK_CONTEXT_WINDOW`` or the provider's usual size."""
    if env := os.environ.get("COWORK_CONTEXT_WINDOW"):
        return int(env)
    if spec.provider == "local":
        return resolve_weights(spec.name)[1]
    return CONTEXT_WINDOWS[spec.provider]


def build_model(spec: ModelSpec, *, base_url: str | None = None) -> Model:
    """A pydantic-ai model for ``spec``.

    ``base_url`` (or ``OPENAI_BASE_URL``) points ``openai:`` at any OpenAI-compatible server; no
    key is then required. Raises :class:`ModelConfigError` naming the variable to set.
    """
    key = _key(spec.provider)
    if spec.provider == "openai":
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai import OpenAIProvider

        from .openai_client import PassthroughOpenAI

        url = openai_base_url(base_url)
        if not key and not url:
            raise ModelConfigError(
                "openai: no API key. Run `cowork auth set openai` or set OPENAI_API_KEY, or OPENAI_BASE_URL / "
                "--base-url for an OpenAI-compatible server"
            )
        client = PassthroughOpenAI(api_key=key or "not-needed", base_url=url, max_retries=0)
        return OpenAIChatModel(spec.name, provider=OpenAIProvider(openai_client=client))
    if spec.provider == "anthropic":
        if not key:
            raise ModelConfigError("anthropic: no API key. Run `cowork auth set anthropic` or set ANTHROPIC_API_KEY")
        from anthropic import AsyncAnthropic
        from pydantic_ai.models.anthropic import AnthropicModel
        from pydantic_ai.providers.anthropic import AnthropicProvider

        client = AsyncAnthropic(api_key=key, max_retries=0)
        return AnthropicModel(spec.name, provider=AnthropicProvider(anthropic_client=client))
    if spec.provider == "google":
        if not key:
            raise ModelConfigError(
                "google: no API key. Run `cowork auth set google` or set GOOGLE_API_KEY (or GEMINI_API_KEY)")
        from pydantic_ai.models.google import GoogleModel
        from pydantic_ai.providers.google import GoogleProvider

        return GoogleModel(spec.name, provider=GoogleProvider(api_key=key))
    if spec.provider == "ollama":
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.ollama import OllamaProvider

        url = os.environ.get("OLLAMA_BASE_URL", "http://127.0.0.1:11434/v1")
        return OpenAIChatModel(spec.name, provider=OllamaProvider(base_url=url))
    from .local import LocalModel, LocalModelError

    try:
        return LocalModel(spec.name)
    except LocalModelError as exc:
        raise ModelConfigError(str(exc)) from None


@dataclass(frozen=True)
class ModelStatus:
    model: str
    usable: bool
    detail: str


def configured_models() -> list[ModelStatus]:
    """One line per provider: its default model, whether it can be used now, and why (not)."""
    out = []
    for provider in PROVIDERS:
        name = f"{provider}:{DEFAULT_MODELS[provider]}"
        if provider in KEY_VARIABLES:
            try:
                found = provider_key(provider)
            except SecretStoreError as exc:
                out.append(ModelStatus(name, False, str(exc)))
                continue
            source = None if found is None else "the key store" if found[1] == "store" else found[1]
            usable = source is not None or (provider == "openai" and openai_base_url() is not None)
            detail = f"key from {source}" if source else (
                f"OPENAI_BASE_URL={openai_base_url()}" if usable
                else f"run `cowork auth set {provider}` or set {KEY_VARIABLES[provider][0]}"
            )
        elif provider == "ollama":
            usable = bool(os.environ.get("OLLAMA_BASE_URL"))
            detail = os.environ.get("OLLAMA_BASE_URL") or "set OLLAMA_BASE_URL (default http://127.0.0.1:11434/v1)"
        else:
            try:
                path, n_ctx = resolve_weights(DEFAULT_MODELS["local"])
                usable, detail = True, f"embedded llama.cpp, {path.stat().st_size / 1e6:.0f} MB, {n_ctx} tokens context"
            except Exception as exc:
                usable, detail = False, str(exc)
        out.append(ModelStatus(name, usable, detail))
    return out
