"""Dataset validation for Gemini supervised tuning: stream, check, count tokens, estimate cost."""

from shared.dataset.codes import CODES, Code, Severity
from shared.dataset.report import REPORT_VERSION, ValidationReport
from shared.dataset.sources import SourceError
from shared.dataset.validator import ValidationOptions, validate_dataset

__all__ = [
    "CODES",
    "Code",
    "REPORT_VERSION",
    "Severity",
    "SourceError",
    "ValidationOptions",
    "ValidationReport",
    "validate_dataset",
]
