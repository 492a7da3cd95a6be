"""``gunicorn.conf.py``: the one source of server settings, used by the Procfile, the demo and
bench/ (through ``dreamweb.processes.gunicorn_command``)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from dreamweb.processes import free_port, gunicorn_command

ROOT = Path(__file__).resolve().parent.parent
# Settings of the app that the surrounding environment must not leak into these processes.
APP_SETTINGS = {"OPENAI_API_KEY", "SECRET_KEY", "DREAMWEB_ENV", "STORAGE_URL", "VIDEO_SIZE"}
SERVER_SETTINGS = {
    "worker_class": "gevent",
    "worker_connections": "1000",
    "timeout": "30",
    "graceful_timeout": "30",
    "keepalive": "5",
    "accesslog": "-",
    "errorlog": "-",
    "preload_app": "True",
}


def procfile_web_command(*flags: str) -> list[str]:
    """The Procfile's ``web`` command with ``flags`` added, run from the repository root."""
    line = next(
        text for text in (ROOT / "Procfile").read_text().splitlines() if text.startswith("web:")
    )
    words = shlex.split(line.removeprefix("web:"))
    assert words[0] == "gunicorn"
    return [sys.executable, "-m", *words, *flags]


def run(command: list[str], **environ: str) -> subprocess.CompletedProcess[str]:
    """``command`` in the repository root with ``environ`` instead of the app's settings."""
    env = {k: v for k, v in os.environ.items() if k not in APP_SETTINGS | {"PORT"}}
    env.update(environ)
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def printed_config(output: str) -> dict[str, str]:
    """``gunicorn --print-config`` output as ``{name: value}``."""
    pairs = (line.partition(" = ") for line in output.splitlines() if " = " in line)
    return {name.strip(): value.strip() for name, _, value in pairs}


def test_the_procfile_serves_with_gunicorn_conf_py_on_port_and_web_concurrency():
    port = str(free_port())
    result = run(
        procfile_web_command("--print-config"),
        DREAMWEB_ENV="development",
        PORT=port,
        WEB_CONCURRENCY="3",
    )
    assert result.returncode == 0, result.stderr
    config = printed_config(result.stdout)
    assert config["config"] == "./gunicorn.conf.py", "found in the working directory"
    assert config["bind"] == f"['0.0.0.0:{port}']"
    assert config["workers"] == "3"
    assert {name: config[name] for name in SERVER_SETTINGS} == SERVER_SETTINGS


def test_gunicorn_with_the_procfile_flags_stops_on_bad_configuration():
    # Bound to a loopback port, not $PORT; everything else comes from gunicorn.conf.py (preload).
    gunicorn = run(
        procfile_web_command("--bind", "127.0.0.1:0"),
        DREAMWEB_ENV="production",
        WEB_CONCURRENCY="2",
    )  # no SECRET_KEY
    assert gunicorn.returncode != 0
    ours = [line for line in gunicorn.stderr.splitlines() if line.startswith("dreamweb:")]
    assert ours == [
        "dreamweb: configuration error: SECRET_KEY is required in production "
        "(DREAMWEB_ENV=development has a default)"
    ]
    assert "Traceback" not in gunicorn.stderr


def test_demo_and_bench_gunicorn_keep_the_file_but_their_own_port_and_workers():
    port = free_port()
    command = gunicorn_command("wsgi:app", port=port, options=["--workers", "2", "--print-config"])
    result = run(command, DREAMWEB_ENV="development", WEB_CONCURRENCY="5")
    assert result.returncode == 0, result.stderr
    config = printed_config(result.stdout)
    assert config["config"] == str(ROOT / "gunicorn.conf.py")
    assert config["bind"] == f"['127.0.0.1:{port}']"
    assert config["workers"] == "2", "a flag overrides WEB_CONCURRENCY"
    assert {name: config[name] for name in SERVER_SETTINGS} == SERVER_SETTINGS
