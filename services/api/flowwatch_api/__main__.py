"""``flowwatch-api``: run the query service with uvicorn on ``FLOWWATCH_API_HOST``:``FLOWWATCH_API_PORT``, with the
slow-client and flood settings of ``flowwatch_api.serving``."""

from __future__ import annotations

from typing import Any

import uvicorn

from flowwatch.observability import setup_logging, uvicorn_log_config
from flowwatch.settings import ApiSettings
from flowwatch_api.app import create_app
from flowwatch_api.serving import uvicorn_kwargs


def main() -> None:
    """Serve the API until interrupted. Settings come from the environment (``ApiSettings``)."""
    setup_logging("api")  # FLOWWATCH_LOG_FORMAT: json (default) or text
    settings = ApiSettings()
    log_config = uvicorn_log_config("api")
    kwargs: dict[str, Any] = {"log_config": log_config} if log_config is not None else {}
    uvicorn.run(create_app(settings), log_level="info", **uvicorn_kwargs(settings), **kwargs)


if __name__ == "__main__":
    main()
