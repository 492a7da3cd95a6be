"""Schemathesis (an independent tool) against the app served by gunicorn: every check, every
phase — examples, coverage, fuzzing and the stateful phase that follows the document's links
(create → status → video) — with zero failures.

The provider is the session's simulator over HTTP; storage is a local folder; rate limits are
high enough for a fuzzer. Run time is bounded with ``--max-examples``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dreamweb.processes import ROOT, free_port, gunicorn_command, running
from dreamweb.webhooks.signing import new_secret

ST = Path(sys.executable).with_name("st")
CONFIG = Path(__file__).with_name("schemathesis.toml")
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")  # the prompt's fast generator
MAX_EXAMPLES = 10
API_TOKEN = "schemathesis-token-0123456789"


@pytest.fixture
def served_app(tmp_path, simulator):
    """dreamweb under gunicorn (``gunicorn.conf.py``, one worker) on a free loopback port; its
    base URL."""
    simulator.configure(render_seconds=0.2)
    port = free_port()
    env = {
        "DREAMWEB_ENV": "development",
        "SECRET_KEY": "schemathesis-secret",
        "OPENAI_API_KEY": "sim-test-key",
        "OPENAI_BASE_URL": simulator.base_url,
        "STORAGE_URL": (tmp_path / "store").as_uri(),
        "STATUS_TTL_SECONDS": "0",
        "RATELIMIT_CREATE": "100000/minute",
        "RATELIMIT_READ": "100000/minute",
        "TRUSTED_PROXY_HOPS": "0",
        "WEBHOOK_SECRET": new_secret(),
        # Tokens on, so DELETE /api/videos/{jobId} works and a missing token must be a 401.
        "API_TOKENS": API_TOKEN,
        "WEBHOOK_TIMEOUT_SECONDS": "1",
        "LOG_LEVEL": "warning",
    }
    command = gunicorn_command("wsgi:app", port=port, options=["--workers", "1"])
    base = f"http://127.0.0.1:{port}"
    with running(command, f"{base}/api/health", env=env, log=Path(os.devnull)):
        yield base


@pytest.mark.timeout(300)  # about 45-70 s on a shared 2-core machine; bounded by examples
def test_schemathesis_finds_no_failures(served_app, tmp_path):
    command = [
        *(str(ST), "--config-file", str(CONFIG), "run", f"{served_app}/api/openapi.json"),
        *("--checks", "all"),
        *("--url", served_app, "--max-examples", str(MAX_EXAMPLES), "--seed", "13"),
        *("--header", f"Authorization: Bearer {API_TOKEN}"),
        # One worker: hypothesis' lambda sources are parsed with ``ast``, which is not thread
        # safe on Python 3.11 ("AST constructor recursion depth mismatch" with --workers 2).
        *("--workers", "1", "--request-timeout", "10", "--no-color"),
        *("--report", "junit", "--report-dir", str(tmp_path / "report")),
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS), "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env
    )
    elapsed = time.monotonic() - started
    output = result.stdout + result.stderr
    summary = [line for line in output.splitlines() if "generated" in line or " passed in " in line]
    print(f"schemathesis: {summary[-1] if summary else '?'} ({elapsed:.0f} s)")
    assert result.returncode == 0, output[-12000:]
    summary_block = output.split("SUMMARY")[-1]
    for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):
        assert f"✅ {phase}" in summary_block, f"{phase} phase did not pass:\n{summary_block}"
    assert "❌" not in summary_block and "🚫" not in summary_block, summary_block
