"""The whole local stack for end-to-end tests (module-scoped: each module gets a fresh one)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infra.stack import LocalStack, StackConfig
from infra.topology import DeliveryPolicy
from tests.e2e.stack_helpers import Receiver, StackDriver

pytestmark = pytest.mark.e2e


def run_stack(tmp_path_factory: pytest.TempPathFactory, **overrides) -> Iterator[StackDriver]:
    settings = {"tick_interval_s": 1.0, "max_concurrent_jobs": 4, **overrides}
    config = StackConfig(state_dir=tmp_path_factory.mktemp("stack"), **settings)
    stack = LocalStack(config).start()
    try:
        yield StackDriver(stack)
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[StackDriver]:
    """The local stack with the real torch engine on the tiny Gemma model."""
    yield from run_stack(tmp_path_factory, delivery=DeliveryPolicy(min_backoff_s=1, max_backoff_s=3))


@pytest.fixture(scope="module")
def receiver(stack: StackDriver) -> Iterator[Receiver]:
    """A verifying receiver registered for every upload under `e2e/`."""
    server = Receiver()
    stack.clients.endpoints.add(server.url, prefix="e2e/", secret=server.secret)
    yield server
    server.close()
