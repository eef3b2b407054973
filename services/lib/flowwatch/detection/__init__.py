"""PI detection: recognizers (one class per entity), context words, PIPL categories, masking, scanner."""

from flowwatch.detection.scanner import Scanner, default_scanner
from flowwatch.detection.types import Match

__all__ = ["Match", "Scanner", "default_scanner"]
