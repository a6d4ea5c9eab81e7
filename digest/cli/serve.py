"""digest serve: the web app (subscribe, confirm, preferences, unsubscribe,
topic pages and RSS, the SendGrid event webhook) under uvicorn."""

from __future__ import annotations

import typer

from digest.cli.common import app, runtime


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", metavar="HOST", help="Address to listen on."),
    port: int = typer.Option(8000, metavar="PORT", help="Port to listen on."),
    forwarded_allow_ips: str = typer.Option(
        "127.0.0.1",
        "--forwarded-allow-ips",
        metavar="IPS",
        help="Proxies whose X-Forwarded-For/-Proto headers are trusted (comma-separated).",
    ),
) -> None:
    """Serve the web app. Put it behind a reverse proxy that terminates TLS and
    set DIGEST_BASE_URL to the public https URL.

    Example: digest serve --host 127.0.0.1 --port 8000
    """
    import uvicorn

    from subscribers.app import create_app

    rt = runtime()
    rt.engine  # noqa: B018 - fail now, with one line, if the schema is behind
    uvicorn.run(
        create_app(rt),
        host=host,
        port=port,
        proxy_headers=True,
        forwarded_allow_ips=forwarded_allow_ips,
        log_level=rt.settings.log_level.lower(),
        # Leave logging as `runtime()` set it up: uvicorn's own lines then go
        # through the app's handler (JSON with the run id under
        # DIGEST_LOG_FORMAT=json) instead of uvicorn's default formatters.
        log_config=None,
        # Request lines would carry the tokens in confirm/unsubscribe URLs.
        access_log=False,
    )
