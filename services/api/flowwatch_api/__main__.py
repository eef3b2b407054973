"""``flowwatch-api``: run the query service with uvicorn on ``FLOWWATCH_API_HOST``:``FLOWWATCH_API_PORT``."""

from __future__ import annotations

import uvicorn

from flowwatch.settings import ApiSettings
from flowwatch_api.app import create_app


def main() -> None:
    """Serve the API until interrupted. Settings come from the environment (``ApiSettings``)."""
    settings = ApiSettings()
    uvicorn.run(create_app(settings), host=settings.api_host, port=settings.api_port, log_level="info")


if __name__ == "__main__":
    main()
