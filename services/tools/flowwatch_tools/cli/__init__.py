"""The ``flowwatch`` command line (typer)."""
