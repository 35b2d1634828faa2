"""Client identity: modeltrail keys (`mt-...`), kills by key/user/team, spend, limits.

Modules, one job each (import them directly; this package imports nothing so
`proxy.settings` can use `proxy.keys.limits` without a cycle):

- `tokens`     key material: new keys and ids, the keyed hash we store
- `registry`   pure: key records by hash, authenticate and authorize
- `book`       the registry fed by the compacted `identity.keys` topic (replay + follow)
- `counters`   memory or Redis counters for limits and budgets
- `limits`     rpm/tpm/budget checks of keys and teams (429 with the reset time)
- `prices`     the price table and the cost of a response
- `gate`       what the forwarding app calls: identify, authorize, admit, settle
- `secret`     the server's key secret (settings or a 0600 file)
- `local`      the local key `modeltrail up` creates on first start
"""

from __future__ import annotations

__all__: list[str] = []
