"""The whole local stack for end-to-end tests (module-scoped: each module gets a fresh one)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infra.stack import LocalStack, StackConfig
from infra.topology import DeliveryPolicy
from tests.e2e.secret_scan import scan_firestore, scan_logs, secrets_in_file
from tests.e2e.stack_helpers import ISSUED_SECRETS, Receiver, StackDriver

pytestmark = pytest.mark.e2e


def run_stack(tmp_path_factory: pytest.TempPathFactory, **overrides) -> Iterator[StackDriver]:
    """A started stack; at teardown, proof that no webhook signing secret used with it was
    written to any component's log or any Firestore document (tests/e2e/secret_scan.py)."""
    settings = {"tick_interval_s": 1.0, "max_concurrent_jobs": 4, **overrides}
    config = StackConfig(state_dir=tmp_path_factory.mktemp("stack"), **settings)
    stack = LocalStack(config).start()
    driver = StackDriver(stack)
    try:
        yield driver
        in_firestore = scan_firestore(driver.clients.firestore, secrets_used_with(stack))
    finally:
        stack.stop()
    report = in_firestore.merge(scan_logs(stack.run_dir, secrets_used_with(stack)))
    if report.hits:
        pytest.fail(report.describe(), pytrace=False)


def secrets_used_with(stack: LocalStack) -> list[str]:
    """The receivers' secrets and every secret the stack's secret store holds."""
    return [*ISSUED_SECRETS, *secrets_in_file(stack.secrets_file)]


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
