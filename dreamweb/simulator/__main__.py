"""``python -m dreamweb.simulator``: serve the provider simulator until interrupted."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dreamweb.simulator import VideoSimulator, make_simulator_server, root_url


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line: where to listen and how the simulated renders behave."""
    parser = argparse.ArgumentParser(
        prog="python -m dreamweb.simulator",
        description="Serve an offline simulator of the OpenAI Videos, Vertex (Veo) and "
        "OpenRouter video APIs, plus an OAuth2 token endpoint.",
    )
    parser.add_argument("--port", type=int, required=True, help="TCP port (0 picks a free one)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    parser.add_argument(
        "--render-seconds", type=float, default=5.0, help="time from queued to completed"
    )
    parser.add_argument(
        "--video-bytes", type=int, default=0, help="size of each served video (0 = base clip)"
    )
    parser.add_argument(
        "--expires-seconds", type=float, default=3600.0, help="content lifetime after completion"
    )
    parser.add_argument(
        "--no-require-key", action="store_true", help="accept requests without a Bearer key"
    )
    parser.add_argument(
        "--gcs-endpoint", help="GCS emulator Vertex outputs are written to (http://host:port)"
    )
    parser.add_argument("--webhook-secret", help="signs OpenRouter webhooks (unsigned if unset)")
    parser.add_argument(
        "--service-account-key",
        action="append",
        default=[],
        metavar="FILE",
        help="a service-account JSON key whose assertions POST /token accepts (repeatable)",
    )
    parser.add_argument("--quiet", action="store_true", help="no per-request access log")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Start the server, print its base URL (``http://host:port/v1``) on stdout, serve."""
    arguments = parse_arguments(argv)
    simulator = VideoSimulator(
        render_seconds=arguments.render_seconds,
        video_bytes=arguments.video_bytes,
        expires_seconds=arguments.expires_seconds,
        require_key=not arguments.no_require_key,
        gcs_endpoint=arguments.gcs_endpoint,
        webhook_secret=arguments.webhook_secret,
    )
    for key_file in arguments.service_account_key:
        simulator.trust_service_account(json.loads(Path(key_file).read_text()))
    server = make_simulator_server(
        simulator, arguments.host, arguments.port, access_log=not arguments.quiet
    )
    # The first stdout line is the base URL alone, so scripts can read it (port 0 included).
    print(f"{root_url(server)}/v1", flush=True)
    print("dreamweb simulator: control API under /_sim, Ctrl-C to stop", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
