"""The modeltrail proxy: forwarding, capture, events, emission, spool, enforcement, control.

Names are imported lazily so `python -m modeltrail.embedded.fake_backend` and the enforcement
package do not pay for (or cycle through) the whole proxy at import time.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from proxy.app import AllowAll, ProxyApp, build_emitter, create_app
    from proxy.emitter import Emitter, Publisher
    from proxy.errors import ProxyError, SpoolError
    from proxy.forward import Forwarder
    from proxy.metrics import ProxyMetrics
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

_WHERE = {
    "AllowAll": "proxy.app",
    "ProxyApp": "proxy.app",
    "build_emitter": "proxy.app",
    "create_app": "proxy.app",
    "Emitter": "proxy.emitter",
    "Publisher": "proxy.emitter",
    "ProxyError": "proxy.errors",
    "SpoolError": "proxy.errors",
    "Forwarder": "proxy.forward",
    "ProxyMetrics": "proxy.metrics",
    "Route": "proxy.routing",
    "Router": "proxy.routing",
    "BackendConfig": "proxy.settings",
    "ControlKey": "proxy.settings",
    "ProxySettings": "proxy.settings",
    "Spool": "proxy.spool",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'proxy' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
