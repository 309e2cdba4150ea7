"""The one table of base models."""

from __future__ import annotations

from shared.model_catalog import BASE_MODELS, OPEN_MODELS, Lifecycle, TuningMode, find_base_model, known_model_names


def test_the_models_the_brief_names_are_all_known():
    for name in ("gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-2.0-flash", "gemini-2.0-flash-lite"):
        assert find_base_model(name) is not None, name


def test_gemini_2_0_models_are_known_but_flagged_discontinued():
    assert find_base_model("gemini-2.0-flash-001").lifecycle is Lifecycle.DISCONTINUED
    assert find_base_model("gemini-2.0-flash-lite").discontinued


def test_resource_names_and_case_resolve_to_the_same_row():
    row = find_base_model("gemini-2.5-flash")
    assert find_base_model("projects/p/locations/us-central1/publishers/google/models/gemini-2.5-flash") is row
    assert find_base_model("Gemini-2.5-Flash") is row


def test_gemini_models_accept_adapter_tuning_only_and_open_models_accept_full():
    assert all(model.tuning_modes == (TuningMode.ADAPTER,) for model in BASE_MODELS)
    assert all(model.supports_mode(TuningMode.FULL) for model in OPEN_MODELS)


def test_adapter_sizes_follow_vertex_per_model():
    assert find_base_model("gemini-2.5-pro").adapter_sizes == (1, 2, 4, 8)
    assert find_base_model("gemini-2.5-flash").adapter_sizes == (1, 2, 4, 8, 16)


def test_every_row_has_a_token_limit_and_priced_rows_have_positive_prices():
    for model in BASE_MODELS + OPEN_MODELS:
        assert model.limits.max_example_tokens > 0
        assert model.training_usd_per_million_tokens is None or model.training_usd_per_million_tokens > 0
        assert model.note or model.training_usd_per_million_tokens is not None


def test_names_are_unique():
    names = known_model_names()
    assert len(names) == len(set(names))
