"""``make run``: the simulator and dreamweb together, offline, with local storage.

Starts ``python -m dreamweb.simulator`` on one port and dreamweb under gunicorn on another, with
no API key and no cloud, prints the URL, and stops both on Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def wait_until_up(url: str, process: subprocess.Popen, timeout: float = 30.0) -> None:
    """Poll ``url`` until it answers 200, or exit if ``process`` dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"demo: {url} process exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"demo: {url} did not come up within {timeout:.0f} s")


def main() -> None:
    """Run the demo until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--simulator-port", type=int, default=8055)
    parser.add_argument("--render-seconds", type=float, default=15.0)
    args = parser.parse_args()
    # A platform or a shell stops us with SIGTERM: leave through ``finally`` like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    simulator_url = f"http://127.0.0.1:{args.simulator_port}"
    env = {
        **os.environ,
        "DREAMWEB_ENV": "demo",
        "OPENAI_BASE_URL": f"{simulator_url}/v1",
        "OPENAI_API_KEY": "simulator-key",
        "STATUS_TTL_SECONDS": "1",
        "POLL_INTERVAL_SECONDS": "2",
        "RATELIMIT_CREATE": "30/minute;300/day",
        "LOG_FORMAT": "text",
    }
    env.setdefault("STORAGE_URL", (ROOT / "instance" / "storage").as_uri())
    simulator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dreamweb.simulator",
            "--port",
            str(args.simulator_port),
            "--render-seconds",
            str(args.render_seconds),
        ],
        cwd=ROOT,
    )
    web = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "wsgi:app",
            "--preload",
            "--bind",
            f"127.0.0.1:{args.port}",
            "--worker-class",
            "gthread",
            "--threads",
            "8",
            "--workers",
            "2",
            "--timeout",
            "120",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        wait_until_up(f"{simulator_url}/_sim/health", simulator)
        wait_until_up(f"http://127.0.0.1:{args.port}/api/health", web)
        print(
            f"\n  dreamweb is running at http://127.0.0.1:{args.port}/  (Ctrl-C stops it)\n",
            flush=True,
        )
        web.wait()
    except KeyboardInterrupt:
        pass
    finally:
        for process in (web, simulator):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in (web, simulator):
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    main()
