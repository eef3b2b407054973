"""Flowwatch query service (FastAPI): findings, incidents and alerts; ledger and registry to come.

Run with ``flowwatch-api`` (see ``__main__``) or build the app with ``create_app``.
"""

from flowwatch_api.app import create_app

__all__ = ["create_app"]
