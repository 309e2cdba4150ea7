"""Where the CLI's commands point: the running local stack, or the cloud through the environment.

When a local stack is up (its state file says ready), its environment (emulator hosts, twin
endpoint, buckets) is applied for this process, unless `TUNEWIRE_USE_ENV=1` asks to use the
environment as it is (a real project). One place decides this for every command.
"""

from __future__ import annotations

import os
from functools import lru_cache

from shared.clients import Clients
from shared.config import Settings


def stack_env_applied() -> bool:
    """Apply the running local stack's environment (if any); True when one is running."""
    if os.environ.get("TUNEWIRE_USE_ENV") == "1":
        return False
    from infra.stack import read_state

    state = read_state()
    if not (state and state.get("ready")):
        return False
    for key, value in state.get("env", {}).items():
        os.environ.setdefault(key, value)
    return True


@lru_cache(maxsize=1)
def clients() -> Clients:
    stack_env_applied()
    return Clients(Settings.from_env())
