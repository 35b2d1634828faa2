"""The modeltrail proxy: forwarding, capture, events, emission, spool, enforcement, control."""

from __future__ import annotations

from proxy.app import AllowAll, ProxyApp, build_emitter, create_app
from proxy.emitter import Emitter
from proxy.errors import ProxyError, SpoolError
from proxy.forward import Forwarder
from proxy.metrics import ProxyMetrics
from proxy.publisher import Publisher
from proxy.routing import Route, Router
from proxy.settings import BackendConfig, ControlKey, ProxySettings
from proxy.spool import Spool

__all__ = [
    "AllowAll",
    "BackendConfig",
    "ControlKey",
    "Emitter",
    "Forwarder",
    "ProxyApp",
    "ProxyError",
    "ProxyMetrics",
    "ProxySettings",
    "Publisher",
    "Route",
    "Router",
    "Spool",
    "SpoolError",
    "build_emitter",
    "create_app",
]
