"""Shared pytest fixtures.

Emulator fixtures (session-scoped) start the real local emulators once per test
session, in a temporary run folder that keeps their logs; they export the client
environment variable (``PUBSUB_EMULATOR_HOST``, ``FIRESTORE_EMULATOR_HOST``,
``STORAGE_EMULATOR_HOST``) for the session, restore it afterwards, and always stop
the process group. Tests that need a clean slate call ``reset()`` themselves.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infra.emulators import (
    FakeGcs,
    FirestoreEmulator,
    PubSubEmulator,
    start_fake_gcs,
    start_firestore_emulator,
    start_pubsub_emulator,
)

TEST_PROJECT = "tunewire-test"


@pytest.fixture(scope="session")
def pubsub_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PubSubEmulator]:
    """A real Pub/Sub emulator for the session; ``PUBSUB_EMULATOR_HOST`` points at it."""
    emulator = start_pubsub_emulator(tmp_path_factory.mktemp("pubsub-emulator"), TEST_PROJECT)
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in emulator.env.items():
                patch.setenv(name, value)
            yield emulator
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def firestore_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FirestoreEmulator]:
    """A real Firestore emulator for the session; ``FIRESTORE_EMULATOR_HOST`` points at it."""
    emulator = start_firestore_emulator(tmp_path_factory.mktemp("firestore-emulator"), TEST_PROJECT)
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in emulator.env.items():
                patch.setenv(name, value)
            yield emulator
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def fake_gcs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeGcs]:
    """A fake-gcs-server (no events) for the session; ``STORAGE_EMULATOR_HOST`` points at it."""
    server = start_fake_gcs(tmp_path_factory.mktemp("fake-gcs"), project=TEST_PROJECT)
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in server.env.items():
                patch.setenv(name, value)
            yield server
    finally:
        server.stop()


from shared.tokens import GemmaTokenizer, build_tokenizer_model, find_tokenizer_model, load_tokenizer  # noqa: E402


@pytest.fixture(scope="session")
def gemma_tokenizer() -> GemmaTokenizer:
    """The real Gemma 3 tokenizer; built from the GGUF package on first use if missing."""
    return load_tokenizer(find_tokenizer_model() or build_tokenizer_model())


# --- hypothesis budget ------------------------------------------------------------------------
# One profile governs every property-based test, so the number of generated cases is a choice
# made per run, not per file: 1,000 cases each by default (the floor for event parsing
# and the validator), more with `--hypothesis-budget=N` or `TUNEWIRE_HYPOTHESIS_EXAMPLES=N`.
# No deadline: the shared 2-core machines make per-example timings noise, not signal.

import os  # noqa: E402

from hypothesis import HealthCheck  # noqa: E402
from hypothesis import settings as hypothesis_settings  # noqa: E402

HYPOTHESIS_PROFILE = "tunewire"
HYPOTHESIS_BUDGET_ENV = "TUNEWIRE_HYPOTHESIS_EXAMPLES"
DEFAULT_HYPOTHESIS_EXAMPLES = 1000


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--hypothesis-budget",
        type=int,
        default=None,
        metavar="N",
        help=f"examples per property-based test (default ${HYPOTHESIS_BUDGET_ENV} or {DEFAULT_HYPOTHESIS_EXAMPLES})",
    )


def hypothesis_budget(config: pytest.Config) -> int:
    """The option wins over the environment, which wins over the default; at least one example."""
    chosen = config.getoption("--hypothesis-budget")
    if chosen is None:
        raw = os.environ.get(HYPOTHESIS_BUDGET_ENV) or str(DEFAULT_HYPOTHESIS_EXAMPLES)
        try:
            chosen = int(raw)
        except ValueError:
            raise pytest.UsageError(f"{HYPOTHESIS_BUDGET_ENV} must be a whole number, got {raw!r}") from None
    if chosen < 1:
        raise pytest.UsageError(f"the hypothesis budget must be at least 1 example, got {chosen}")
    return chosen


def pytest_configure(config: pytest.Config) -> None:
    # function_scoped_fixture: the validator properties reuse one tmp_path and the session
    # tokenizer across examples on purpose; each example overwrites its file first.
    hypothesis_settings.register_profile(
        HYPOTHESIS_PROFILE,
        max_examples=hypothesis_budget(config),
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    if not config.getoption("hypothesis_profile", None):  # an explicit --hypothesis-profile still wins
        hypothesis_settings.load_profile(HYPOTHESIS_PROFILE)
