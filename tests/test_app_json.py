"""app.json (the one-click Heroku-style deploy) agrees with config.py and the Procfile."""

from __future__ import annotations

import json
from pathlib import Path

from dreamweb.config import SECRETS, SETTINGS, load_settings

ROOT = Path(__file__).resolve().parent.parent
APP = json.loads((ROOT / "app.json").read_text())


def procfile_types() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(":", 1) for line in lines if line.strip() and not line.startswith("#"))


def test_app_json_lists_exactly_the_variables_config_knows():
    assert set(APP["env"]) == set(SETTINGS), "no drift between app.json and dreamweb/config.py"
    for name, entry in APP["env"].items():
        assert entry["description"].strip(), name
        assert isinstance(entry["required"], bool), name


def test_app_json_values_parse_and_the_deploy_essentials_are_there():
    env = APP["env"]
    assert env["SECRET_KEY"] == {**env["SECRET_KEY"], "generator": "secret", "required": True}
    assert env["TRUSTED_PROXY_HOPS"]["value"] == "1"
    assert env["OPENAI_API_KEY"]["required"] and env["STORAGE_URL"]["required"]
    assert any(addon["plan"].startswith("heroku-redis") for addon in APP["addons"])
    values = {name: entry["value"] for name, entry in env.items() if "value" in entry}
    load_settings({**values, "SECRET_KEY": "x", "STORAGE_URL": "gs://bucket"})  # all parse
    assert set(SETTINGS) >= SECRETS
    for name in SECRETS:
        assert "value" not in env[name], f"{name} is a secret: no value in app.json"


def test_formation_and_release_phase_match_the_procfile():
    types = procfile_types()
    assert set(APP["formation"]) == {"web", "worker"} <= set(types)
    assert "flask --app dreamweb check" in types["release"]
    assert APP["name"] and APP["description"]


def test_python_version_file_matches_the_project():
    version = (ROOT / ".python-version").read_text().strip()
    assert version.startswith("3.") and int(version.split(".")[1]) >= 11
