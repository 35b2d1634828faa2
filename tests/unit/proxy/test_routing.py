"""Backend resolution order, base paths, credentials and API dialects."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from proxy.dialects import dialect_of
from proxy.errors import UnknownBackend
from proxy.routing import Router
from proxy.settings import BackendConfig, ProxySettings


def _router() -> Router:
    return Router(
        ProxySettings(
            backends=[
                BackendConfig(name="oai", url="https://api.example/openai/", models=["gpt-*"]),
                BackendConfig(
                    name="claude",
                    url="https://claude.example",
                    provider="anthropic",
                    models=["claude-*"],
                    path_prefix="/anthropic",
                    api_key=SecretStr("sk-ant-injected"),
                ),
                BackendConfig(
                    name="local",
                    url="http://127.0.0.1:11434/base",
                    provider="ollama",
                    path_prefix="/ollama",
                    api_key=SecretStr("sk-local"),
                ),
            ],
            default_backend="oai",
        )
    )


@pytest.mark.parametrize(
    ("path", "header", "model", "backend", "url"),
    [
        # header beats model glob and prefix
        (
            "/anthropic/v1/messages",
            "local",
            "claude-3",
            "local",
            "http://127.0.0.1:11434/base/v1/messages",
        ),
        # model glob beats prefix
        (
            "/ollama/v1/chat/completions",
            None,
            "gpt-4o",
            "oai",
            "https://api.example/openai/v1/chat/completions",
        ),
        ("/v1/messages", None, "claude-3-5-sonnet", "claude", "https://claude.example/v1/messages"),
        # prefix when no glob matches; the prefix is stripped, the base path kept
        ("/ollama/api/chat", None, "llama3", "local", "http://127.0.0.1:11434/base/api/chat"),
        # default last
        (
            "/v1/chat/completions",
            None,
            "mistral",
            "oai",
            "https://api.example/openai/v1/chat/completions",
        ),
        ("/v1/models", None, None, "oai", "https://api.example/openai/v1/models"),
    ],
)
def test_resolution_order(
    path: str, header: str | None, model: str | None, backend: str, url: str
) -> None:
    router = _router()
    stripped, prefix_backend = router.strip_prefix(path)
    route = router.route(stripped, "", header, model, prefix_backend)
    assert route.backend.name == backend
    assert route.url == url


def test_query_string_is_kept() -> None:
    router = _router()
    route = router.route("/v1/models", "limit=5&after=x", None, None, None)
    assert route.url == "https://api.example/openai/v1/models?limit=5&after=x"


def test_prefix_must_end_at_a_segment() -> None:
    router = _router()
    assert router.strip_prefix("/ollamax/api/chat") == ("/ollamax/api/chat", None)
    path, backend = router.strip_prefix("/ollama")
    assert path == "/" and backend is not None and backend.name == "local"


def test_unknown_header_backend_is_404() -> None:
    with pytest.raises(UnknownBackend) as info:
        _router().route("/v1/chat/completions", "", "nope", "gpt-4o", None)
    assert info.value.status == 404


def test_no_default_and_no_match_is_404() -> None:
    router = Router(ProxySettings(backends=[BackendConfig(name="a", url="http://a", models=["x"])]))
    with pytest.raises(UnknownBackend):
        router.route("/v1/chat/completions", "", None, "gpt-4o", None)


def test_default_must_exist() -> None:
    with pytest.raises(ValueError, match="default_backend"):
        Router(ProxySettings(backends=[], default_backend="ghost"))


def test_credentials_per_provider() -> None:
    router = _router()
    claude = router.route("/v1/messages", "", "claude", None, None)
    assert claude.inject == (("x-api-key", "sk-ant-injected"),)
    local = router.route("/api/chat", "", "local", None, None)
    assert local.inject == (("authorization", "Bearer sk-local"),)
    assert router.route("/v1/models", "", "oai", None, None).inject == ()


@pytest.mark.parametrize(
    ("path", "dialect"),
    [
        ("/v1/chat/completions", "openai"),
        ("/v1/responses", "openai"),
        ("/v1/embeddings", "openai"),
        ("/v1/messages", "anthropic"),
        ("/v1/messages/count_tokens", "anthropic"),
        ("/api/chat", "ollama"),
        ("/api/generate", "ollama"),
        ("/v1/files", "passthrough"),
        ("/healthz", "passthrough"),
    ],
)
def test_dialect(path: str, dialect: str) -> None:
    assert dialect_of(path) == dialect


def test_an_empty_backend_key_injects_nothing() -> None:
    from pydantic import SecretStr

    router = Router(
        ProxySettings(
            backends=[BackendConfig(name="a", url="http://a", api_key=SecretStr(""))],
            default_backend="a",
        )
    )
    assert router.route("/v1/chat/completions", "", None, None, None).inject == ()
