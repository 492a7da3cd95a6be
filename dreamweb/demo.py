"""``make run``: the simulator and dreamweb together, offline, with local storage.

Starts ``python -m dreamweb.simulator`` on one port and dreamweb under gunicorn on another, with
no API key and no cloud, prints the URL, and stops both on Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

from dreamweb.processes import (
    LOOPBACK,
    ROOT,
    NotReadyError,
    gunicorn_command,
    simulator_command,
    start,
    stop,
    wait_until_up,
)

# Two processes, like a small deployment (cross-process caching and limits show), unless
# WEB_CONCURRENCY says otherwise.
DEMO_WORKERS = "2"


def main() -> None:
    """Run the demo until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--simulator-port", type=int, default=8055)
    parser.add_argument("--render-seconds", type=float, default=15.0)
    args = parser.parse_args()
    # A platform or a shell stops us with SIGTERM: leave through ``finally`` like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    simulator_url = f"http://{LOOPBACK}:{args.simulator_port}"
    app_url = f"http://{LOOPBACK}:{args.port}"
    env = {
        "DREAMWEB_ENV": "demo",
        "OPENAI_BASE_URL": f"{simulator_url}/v1",
        "OPENAI_API_KEY": "simulator-key",
        "STATUS_TTL_SECONDS": "1",
        "POLL_INTERVAL_SECONDS": "2",
        "RATELIMIT_CREATE": "30/minute;300/day",
        "LOG_FORMAT": "text",
        "STORAGE_URL": os.environ.get("STORAGE_URL", (ROOT / "instance" / "storage").as_uri()),
        "WEB_CONCURRENCY": os.environ.get("WEB_CONCURRENCY") or DEMO_WORKERS,
    }
    simulator = start(simulator_command(args.simulator_port, render_seconds=args.render_seconds))
    web = start(gunicorn_command("wsgi:app", port=args.port), env=env)
    try:
        wait_until_up(f"{simulator_url}/_sim/health", simulator)
        wait_until_up(f"{app_url}/api/health", web)
        print(f"\n  dreamweb is running at {app_url}/  (Ctrl-C stops it)\n", flush=True)
        web.wait()
    except NotReadyError as error:
        sys.exit(f"demo: {error}")
    except KeyboardInterrupt:
        pass
    finally:
        stop(web, simulator)


if __name__ == "__main__":
    main()
