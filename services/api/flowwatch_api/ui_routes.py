"""Web UI for SOC analysts at ``/ui`` (static files; placeholder until the UI lands)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
