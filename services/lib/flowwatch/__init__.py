"""Flowwatch shared library: models, settings, detection, rules and helpers used by every service."""

__version__ = "0.1.0"
