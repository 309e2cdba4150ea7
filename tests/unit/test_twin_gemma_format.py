"""Gemini SFT examples → Gemma 3 turns: masking, system placement, dropped parts, truncation, stats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.twin.gemma_format import (
    BOS_ID,
    END_OF_TURN_ID,
    IGNORE_INDEX,
    REASON_FUNCTION,
    REASON_MEDIA,
    REASON_TRUNCATED_AWAY,
    START_OF_TURN_ID,
    MalformedExample,
    decode,
    format_example,
    format_prompt,
    prepare_dataset,
    prepare_file,
    token_distribution,
)
from shared.tokens import GemmaTokenizer

SYSTEM = 'Reply with JSON only: {"sentiment": "positive" | "negative"}.'


def text_turn(role: str, text: str) -> dict:
    return {"role": role, "parts": [{"text": text}]}


def sentiment_example(review: str = "Great lamp.", label: str = "positive", *, system: bool = True) -> dict:
    example: dict = {"contents": [text_turn("user", review), text_turn("model", json.dumps({"sentiment": label}))]}
    if system:
        example["systemInstruction"] = {"parts": [{"text": SYSTEM}]}
    return example


def labelled_text(tokenizer: GemmaTokenizer, ids: list[int], labels: list[int]) -> list[str]:
    """Decoded runs of consecutive labelled tokens."""
    runs: list[list[int]] = []
    previous = IGNORE_INDEX
    for token, label in zip(ids, labels):
        if label != IGNORE_INDEX:
            assert label == token
            if previous == IGNORE_INDEX:
                runs.append([])
            runs[-1].append(token)
        previous = label
    return [decode(tokenizer, run) for run in runs]


def test_special_ids_match_the_tokenizer(gemma_tokenizer: GemmaTokenizer) -> None:
    assert gemma_tokenizer.encode("<start_of_turn>") == [START_OF_TURN_ID]
    assert gemma_tokenizer.encode("<end_of_turn>") == [END_OF_TURN_ID]


def test_layout_system_in_first_user_turn_and_labels_on_model_turn(gemma_tokenizer: GemmaTokenizer) -> None:
    prepared = format_example(sentiment_example(), gemma_tokenizer, max_seq_len=256)
    ids, labels = prepared.input_ids, prepared.labels
    assert ids[0] == BOS_ID and labels[0] == IGNORE_INDEX
    assert len(ids) == len(labels)
    expected = (
        f"<start_of_turn>user\n{SYSTEM}\n\nGreat lamp.<end_of_turn>\n"
        '<start_of_turn>model\n{"sentiment": "positive"}<end_of_turn>\n'
    )
    assert decode(gemma_tokenizer, ids[1:]) == expected
    # only the model text and its <end_of_turn> are targets (not the header, not the trailing newline)
    assert labelled_text(gemma_tokenizer, ids, labels) == ['{"sentiment": "positive"}<end_of_turn>']
    assert labels[-1] == IGNORE_INDEX and labels[-2] == END_OF_TURN_ID
    assert prepared.output_tokens + prepared.input_tokens == len(ids)
    assert not prepared.truncated


def test_no_system_instruction(gemma_tokenizer: GemmaTokenizer) -> None:
    prepared = format_example(sentiment_example(system=False), gemma_tokenizer, max_seq_len=256)
    assert decode(gemma_tokenizer, prepared.input_ids[1:]).startswith("<start_of_turn>user\nGreat lamp.<end_of_turn>")


def test_every_model_turn_of_a_conversation_is_labelled(gemma_tokenizer: GemmaTokenizer) -> None:
    example = {
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "contents": [
            text_turn("user", "Hi"),
            text_turn("model", "Hello."),
            text_turn("user", "Name a colour."),
            {"role": "model", "parts": [{"text": "Blue"}, {"text": "."}]},
        ],
    }
    prepared = format_example(example, gemma_tokenizer, max_seq_len=256)
    assert labelled_text(gemma_tokenizer, prepared.input_ids, prepared.labels) == [
        "Hello.<end_of_turn>",
        "Blue.<end_of_turn>",
    ]
    text = decode(gemma_tokenizer, prepared.input_ids[1:])
    assert text.count("Be brief.") == 1 and text.startswith("<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>")


def test_media_and_function_parts_are_dropped_but_text_stays(gemma_tokenizer: GemmaTokenizer) -> None:
    example = {
        "contents": [
            {"role": "user", "parts": [{"fileData": {"fileUri": "gs://b/cat.png", "mimeType": "image/png"}}, {"text": "Describe it."}]},
            {"role": "model", "parts": [{"functionCall": {"name": "lookup", "args": {}}}]},
            {"role": "function", "parts": [{"functionResponse": {"name": "lookup", "response": {}}}]},
            text_turn("model", "A cat."),
        ]
    }
    prepared = format_example(example, gemma_tokenizer, max_seq_len=256)
    assert decode(gemma_tokenizer, prepared.input_ids[1:]) == (
        "<start_of_turn>user\nDescribe it.<end_of_turn>\n<start_of_turn>model\nA cat.<end_of_turn>\n"
    )


@pytest.mark.parametrize(
    ("model_parts", "reason"),
    [
        ([{"fileData": {"fileUri": "gs://b/a.png", "mimeType": "image/png"}}], REASON_MEDIA),
        ([{"inlineData": {"data": "AAAA", "mimeType": "image/png"}}], REASON_MEDIA),
        ([{"functionCall": {"name": "f", "args": {}}}], REASON_FUNCTION),
    ],
)
def test_example_without_a_text_model_turn_is_dropped_with_its_reason(
    gemma_tokenizer: GemmaTokenizer, model_parts: list[dict], reason: str
) -> None:
    example = {"contents": [text_turn("user", "Hi"), {"role": "model", "parts": model_parts}]}
    with pytest.raises(MalformedExample, match=reason):
        format_example(example, gemma_tokenizer, max_seq_len=256)


@pytest.mark.parametrize(
    "example",
    [
        [1, 2],
        {"contents": []},
        {"contents": [{"role": "user", "parts": "Hi"}]},
        {"contents": [text_turn("user", "Hi"), {"role": "assistant", "parts": [{"text": "x"}]}]},
        {"contents": [text_turn("user", "Hi"), {"role": "model", "parts": [{"text": 5}]}]},
        {"contents": [text_turn("user", "Hi")]},
    ],
)
def test_malformed_examples_are_dropped(gemma_tokenizer: GemmaTokenizer, example: object) -> None:
    with pytest.raises(MalformedExample):
        format_example(example, gemma_tokenizer, max_seq_len=256)


def test_truncation_keeps_the_beginning_and_counts(gemma_tokenizer: GemmaTokenizer) -> None:
    long_answer = " ".join(["word"] * 60)
    example = {"contents": [text_turn("user", "Say words."), text_turn("model", long_answer)]}
    full = format_example(example, gemma_tokenizer, max_seq_len=1024)
    cut = format_example(example, gemma_tokenizer, max_seq_len=32)
    assert cut.truncated and not full.truncated
    assert cut.input_ids == full.input_ids[:32] and cut.labels == full.labels[:32]

    # the model turn starts after max_seq_len: nothing left to learn, dropped
    with pytest.raises(MalformedExample, match=REASON_TRUNCATED_AWAY):
        format_example({"contents": [text_turn("user", long_answer), text_turn("model", "ok")]}, gemma_tokenizer, max_seq_len=16)


def test_prepare_dataset_stats(gemma_tokenizer: GemmaTokenizer) -> None:
    media_only = {"contents": [text_turn("user", "Hi"), {"role": "model", "parts": [{"fileData": {"fileUri": "gs://b/x.png", "mimeType": "image/png"}}]}]}
    long_one = {"contents": [text_turn("user", "Count."), text_turn("model", " ".join(["one"] * 80))]}
    records = [sentiment_example(), media_only, sentiment_example("Bad.", "negative"), long_one, media_only, "not json"]
    dataset = prepare_dataset(records, gemma_tokenizer, max_seq_len=48)
    assert dataset.total_count == 6
    assert [example.index for example in dataset.examples] == [0, 2, 3]
    assert [dropped.index for dropped in dataset.dropped] == [1, 4, 5]
    assert dataset.dropped_reason_counts[REASON_MEDIA] == 2
    assert dataset.dropped_share == pytest.approx(0.5)
    assert dataset.truncated_indices == [3]

    stats = dataset.data_stats(epochs=3, batch_size=2)
    assert stats.example_count == 6
    assert stats.dropped_example_count == 3
    assert stats.total_truncated_example_count == 1 and stats.truncated_example_indices == [3]
    assert stats.tuning_step_count == 3 * 2
    assert any(reason.startswith(REASON_MEDIA) and "(2 examples)" in reason for reason in stats.dropped_example_reasons)
    inputs = [example.input_tokens for example in dataset.examples]
    outputs = [example.output_tokens for example in dataset.examples]
    assert stats.user_input_token_distribution["sum"] == sum(inputs)
    assert stats.user_input_token_distribution["billableSum"] == 3 * sum(inputs)
    assert stats.user_output_token_distribution["max"] == max(outputs)
    assert stats.total_billable_token_count == 3 * (sum(inputs) + sum(outputs))
    assert set(stats.user_input_token_distribution) == {"sum", "billableSum", "min", "max", "mean", "median", "p5", "p95"}


def test_token_distribution_percentiles() -> None:
    distribution = token_distribution(list(range(1, 101)))
    assert distribution["min"] == 1 and distribution["max"] == 100 and distribution["sum"] == 5050
    assert distribution["mean"] == pytest.approx(50.5) and distribution["median"] == pytest.approx(50.5)
    assert distribution["p5"] == pytest.approx(5.95) and distribution["p95"] == pytest.approx(95.05)
    assert token_distribution([])["sum"] == 0


def test_prepare_file_skips_blank_lines_and_drops_bad_json(gemma_tokenizer: GemmaTokenizer, tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    good, other = json.dumps(sentiment_example()), json.dumps(sentiment_example("Meh.", "negative"))
    path.write_bytes(f"{good}\n\n{{broken\n{other}\n".encode() + b"\xff\xfe\n")
    dataset = prepare_file(path, gemma_tokenizer, max_seq_len=128)
    assert dataset.total_count == 4
    assert [example.index for example in dataset.examples] == [0, 2]
    assert [(dropped.index, dropped.reason.split(": ")[1]) for dropped in dataset.dropped] == [
        (1, "line is not valid JSON"),
        (3, "line is not valid UTF-8"),
    ]


def test_prompt_matches_training_prefix_and_ends_with_model_turn(gemma_tokenizer: GemmaTokenizer) -> None:
    example = sentiment_example()
    prompt = format_prompt(example["contents"][:1], example["systemInstruction"], gemma_tokenizer)
    assert decode(gemma_tokenizer, prompt[-3:]) == "<start_of_turn>model\n"
    assert prompt[0] == BOS_ID
    trained = format_example(example, gemma_tokenizer, max_seq_len=256)
    # generation sees exactly the unlabelled prefix the model was trained on
    first_label = next(i for i, label in enumerate(trained.labels) if label != IGNORE_INDEX)
    assert prompt == trained.input_ids[:first_label]


def test_prompt_without_system_and_with_media_only_parts(gemma_tokenizer: GemmaTokenizer) -> None:
    contents = [{"role": "user", "parts": [{"text": "Hi"}, {"fileData": {"fileUri": "gs://b/a.png", "mimeType": "image/png"}}]}]
    prompt = format_prompt(contents, None, gemma_tokenizer)
    assert decode(gemma_tokenizer, prompt[1:]) == "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n"
