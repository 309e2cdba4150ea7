"""Media rules for fileData parts: accepted MIME types, per-example counts, sizes, token estimates."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from shared.gcs import InvalidGcsUri, split_uri

MB = 1024 * 1024


class Modality(str, enum.Enum):
    IMAGE = "image"
    DOCUMENT = "document"
    AUDIO = "audio"
    VIDEO = "video"
    TEXT_FILE = "text_file"


@dataclass(frozen=True)
class ModalityLimits:
    max_per_example: int | None
    max_bytes: int | None


MODALITY_LIMITS: dict[Modality, ModalityLimits] = {
    Modality.IMAGE: ModalityLimits(max_per_example=30, max_bytes=20 * MB),
    Modality.DOCUMENT: ModalityLimits(max_per_example=4, max_bytes=20 * MB),
    Modality.AUDIO: ModalityLimits(max_per_example=1, max_bytes=100 * MB),
    Modality.VIDEO: ModalityLimits(max_per_example=1, max_bytes=100 * MB),
    Modality.TEXT_FILE: ModalityLimits(max_per_example=None, max_bytes=None),
}

MIME_MODALITY: dict[str, Modality] = {
    "application/pdf": Modality.DOCUMENT,
    "audio/mpeg": Modality.AUDIO,
    "audio/mp3": Modality.AUDIO,
    "audio/wav": Modality.AUDIO,
    "image/png": Modality.IMAGE,
    "image/jpeg": Modality.IMAGE,
    "image/webp": Modality.IMAGE,
    "text/plain": Modality.TEXT_FILE,
    "video/mov": Modality.VIDEO,
    "video/mpeg": Modality.VIDEO,
    "video/mp4": Modality.VIDEO,
    "video/mpg": Modality.VIDEO,
    "video/avi": Modality.VIDEO,
    "video/wmv": Modality.VIDEO,
    "video/mpegps": Modality.VIDEO,
    "video/flv": Modality.VIDEO,
}

MEDIA_RESOLUTIONS = ("MEDIA_RESOLUTION_LOW", "MEDIA_RESOLUTION_MEDIUM", "MEDIA_RESOLUTION_HIGH")
DEFAULT_RESOLUTION = "MEDIA_RESOLUTION_MEDIUM"

# Tokens per image by resolution for models before Gemini 3 (HIGH adds pan-and-scan crops that
# cannot be known offline, so 256 is a lower bound there).
IMAGE_TOKENS = {"MEDIA_RESOLUTION_LOW": 64, "MEDIA_RESOLUTION_MEDIUM": 256, "MEDIA_RESOLUTION_HIGH": 256}


def modality_of(mime_type: str) -> Modality | None:
    return MIME_MODALITY.get(mime_type.strip().lower())


def estimated_media_tokens(modality: Modality, resolution: str | None) -> int | None:
    """Tokens for one media item when they can be known without reading it, else None.

    Images cost a fixed count per resolution. Audio, video and PDF cost depends on duration or
    page count, which only reading the object reveals: those are reported as unestimated.
    """
    if modality is Modality.IMAGE:
        return IMAGE_TOKENS.get(resolution or DEFAULT_RESOLUTION, IMAGE_TOKENS[DEFAULT_RESOLUTION])
    return None


def is_gcs_uri(uri: str) -> bool:
    """True for a well-formed gs://bucket/object URI."""
    try:
        split_uri(uri)
    except InvalidGcsUri:
        return False
    return True


def is_http_uri(uri: str) -> bool:
    lowered = uri[:8].lower()
    return lowered.startswith("https://") or lowered.startswith("http://")
