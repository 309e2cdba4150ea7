"""Token accounting for sound examples, batched through the tokenizer.

Vertex AI trains one record per model turn: the system instruction, the conversation so far and
that model turn. A record's tokens are that prefix; an example's billable tokens are the sum over
its records; the per-example limit applies to the whole conversation (input + output).

Texts are counted in batches. A full batch goes to one worker thread while the caller parses the
next one: SentencePiece releases the GIL while it encodes, so parsing overlaps tokenization.
At most two batches are alive at once (one filling, one counting); accounting (and any finding
it raises) happens on the caller's thread, in line order.
"""

from __future__ import annotations

from array import array
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol, Sequence

from shared.dataset.codes import Code
from shared.dataset.example_checks import SYSTEM, ExampleShape
from shared.dataset.findings import FindingCollector

BATCH_TEXTS = 4096
BATCH_CHARS = 4 * 1024 * 1024


class TokenCounter(Protocol):
    def count_tokens(self, texts: Sequence[str], *, num_threads: int | None = None) -> list[int]: ...


@dataclass
class _Batch:
    shapes: list[ExampleShape]
    counts: Future[list[int]]


@dataclass
class TokenTally:
    tokenizer: TokenCounter
    findings: FindingCollector
    file: str
    max_example_tokens: int
    num_threads: int | None = None
    example_tokens: array = field(default_factory=lambda: array("I"))
    record_tokens: int = 0
    records: int = 0
    media_tokens: int = 0
    unestimated_media: int = 0
    _pending: list[ExampleShape] = field(default_factory=list)
    _texts: list[str] = field(default_factory=list)
    _chars: int = 0
    _in_flight: _Batch | None = None
    _worker: ThreadPoolExecutor | None = None

    def add(self, shape: ExampleShape) -> None:
        self._pending.append(shape)
        self._texts.extend(shape.texts)
        for text in shape.texts:
            self._chars += len(text)
        if len(self._texts) >= BATCH_TEXTS or self._chars >= BATCH_CHARS:
            self._dispatch()

    def flush(self) -> None:
        """Count and account every example added so far; stops the worker thread."""
        try:
            self._settle()
            if self._pending:
                shapes, texts = self._take_pending()
                self._account_batch(shapes, self._count(texts))
        finally:
            if self._worker is not None:
                self._worker.shutdown()
                self._worker = None

    def _dispatch(self) -> None:
        """Send the pending batch to the worker, then account the batch sent before it."""
        if self._worker is None:
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="token-count")
        shapes, texts = self._take_pending()
        previous = self._in_flight
        self._in_flight = _Batch(shapes, self._worker.submit(self._count, texts))
        if previous is not None:
            self._account_batch(previous.shapes, previous.counts.result())

    def _settle(self) -> None:
        """Wait for the batch on the worker (if any) and account it."""
        batch, self._in_flight = self._in_flight, None
        if batch is not None:
            self._account_batch(batch.shapes, batch.counts.result())

    def _take_pending(self) -> tuple[list[ExampleShape], list[str]]:
        shapes, texts = self._pending, self._texts
        self._pending, self._texts, self._chars = [], [], 0
        return shapes, texts

    def _count(self, texts: list[str]) -> list[int]:
        return self.tokenizer.count_tokens(texts, num_threads=self.num_threads) if texts else []

    def _account_batch(self, shapes: list[ExampleShape], counts: list[int]) -> None:
        offset = 0
        for shape in shapes:
            n = len(shape.texts)
            self._account(shape, counts[offset : offset + n])
            offset += n

    def _account(self, shape: ExampleShape, counts: Sequence[int]) -> None:
        system = shape.media_tokens.get(SYSTEM, 0)
        per_turn = [0] * shape.n_turns
        for owner, count in zip(shape.text_owners, counts):
            if owner == SYSTEM:
                system += count
            else:
                per_turn[owner] += count
        for owner, count in shape.media_tokens.items():
            self.media_tokens += count
            if owner != SYSTEM:
                per_turn[owner] += count
        self.unestimated_media += shape.unestimated_media

        running = system
        model_turns = shape.model_turns
        next_model = 0
        for t, count in enumerate(per_turn):
            running += count
            if next_model < len(model_turns) and model_turns[next_model] == t:
                self.record_tokens += running
                self.records += 1
                next_model += 1
        total = running
        self.example_tokens.append(min(total, 0xFFFFFFFF))
        if total > self.max_example_tokens:
            self.findings.add(
                Code.EXAMPLE_TOO_LONG,
                f"{total:,} tokens; the model accepts at most {self.max_example_tokens:,} per example",
                line=shape.line,
                path="contents",
                file=self.file,
            )
