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
