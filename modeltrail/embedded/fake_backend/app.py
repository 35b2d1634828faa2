"""The fake backend's Starlette app: exact routes, suffix routing under a base path, 404s.

A request under any base path (`/openai/v1/chat/completions`) is answered by the endpoint
its path ends with, so a proxy that keeps a backend URL's own path gets real answers and
`/_fake/last` shows the path it really sent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from modeltrail.embedded.fake_backend import anthropic, ollama, openai, responses
from modeltrail.embedded.fake_backend.core import Backend, json_response, record

__all__ = ["ENDPOINTS", "create_app"]

Handler = Callable[[Request], Awaitable[Response]]

ENDPOINTS: dict[tuple[str, str], Handler] = {
    ("POST", "/v1/chat/completions"): openai.chat_completions,
    ("POST", "/v1/completions"): openai.completions,
    ("POST", "/v1/embeddings"): openai.embeddings,
    ("POST", "/v1/responses"): responses.responses,
    ("GET", "/v1/models"): openai.list_models,
    ("GET", "/v1/files"): openai.files,
    ("POST", "/v1/messages"): anthropic.messages,
    ("POST", "/api/chat"): ollama.chat,
    ("POST", "/api/generate"): ollama.generate,
    ("GET", "/api/tags"): ollama.tags,
}
_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# Longest suffix first, so `/v1/chat/completions` wins over `/v1/completions`.
_BY_SUFFIX = sorted(ENDPOINTS.items(), key=lambda item: -len(item[0][1]))


async def last_request(request: Request) -> Response:
    """`GET /_fake/last`: the last request (method, path, headers with keys, JSON body)."""
    backend: Backend = request.app.state.backend
    if request.method == "DELETE":
        backend.last = None
        return Response(status_code=204)
    if backend.last is None:
        return openai.openai_error(404, "no request recorded yet")
    return json_response(backend.last.as_json())


async def received(request: Request) -> Response:
    """`GET /_fake/received`: every recent request body as text (DELETE clears them)."""
    backend: Backend = request.app.state.backend
    if request.method == "DELETE":
        backend.received.clear()
        return Response(status_code=204)
    bodies = [b.decode("utf-8", "replace") for b in backend.received]
    return json_response({"bodies": bodies})


async def fallback(request: Request) -> Response:
    """Serve a known endpoint under a base path; anything else is a 404 that echoes it."""
    method, path = request.method, request.url.path
    for (endpoint_method, suffix), handler in _BY_SUFFIX:
        if method == endpoint_method and path.endswith(suffix):
            return await handler(request)
    await record(request)
    error = {
        "message": f"Unknown path: {method} {path}",
        "type": "invalid_request_error",
        "param": None,
        "code": "not_found",
    }
    return json_response({"error": error, "method": method, "path": path}, 404)


def create_app(latency_ms: float = 0.0) -> Starlette:
    """Build the fake; `latency_ms` is the default delay before the first byte."""
    routes = [
        Route(path, handler, methods=[method]) for (method, path), handler in ENDPOINTS.items()
    ]
    routes.append(Route("/_fake/last", last_request, methods=["GET", "DELETE"]))
    routes.append(Route("/_fake/received", received, methods=["GET", "DELETE"]))
    routes.append(Route("/{path:path}", fallback, methods=_ALL_METHODS))
    app = Starlette(routes=routes)
    app.state.backend = Backend(latency_ms=latency_ms)
    return app
