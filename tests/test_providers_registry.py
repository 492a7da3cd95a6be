"""The provider family: registry, capabilities, sizes and the configuration they drive."""

from __future__ import annotations

import json

import pytest

from dreamweb.config import load_settings
from dreamweb.errors import ConfigError
from dreamweb.providers import (
    PROVIDERS,
    build_provider,
    capabilities_for,
    default_model,
    provider_configured,
)
from dreamweb.providers.base import GcsObject
from dreamweb.providers.openai_videos import OpenAIVideosClient
from dreamweb.providers.openrouter import CATALOG
from dreamweb.providers.sizes import shape_of, size_for, sizes_for
from dreamweb.providers.vertex_veo import VertexVeoClient
from tests.fixtures.google_key import service_account_key
from tests.fixtures.scripted import Reply, ScriptedServer

DEV = {"DREAMWEB_ENV": "development"}
VERTEX = {**DEV, "VIDEO_PROVIDER": "vertex-veo", "STORAGE_URL": "gs://b/p", "VERTEX_PROJECT": "p"}
VEO_CATALOG = {
    "data": [
        {
            "id": "google/veo-3.1",
            "supported_resolutions": ["720p", "1080p", "4K"],
            "supported_aspect_ratios": ["16:9", "9:16"],
            "supported_sizes": None,
            "supported_durations": [4, 6, 8],
            "generate_audio": True,
            "pricing_skus": {
                "duration_seconds_with_audio": "0.40",
                "duration_seconds_with_audio_4k": "0.60",
                "duration_seconds_without_audio": "0.20",
            },
        },
        {"id": "alibaba/wan-2.7", "supported_durations": [2, 5, 10],
         "supported_sizes": ["1280x720", "720x1280"], "generate_audio": False},
        {"id": "runway/aleph-2", "supported_durations": None, "supported_sizes": None},
    ]
}  # fmt: skip


class TestSizes:
    @pytest.mark.parametrize(
        ("ratio", "resolution", "size"),
        [
            ("16:9", "720p", "1280x720"),
            ("9:16", "1080p", "1080x1920"),
            ("16:9", "4K", "3840x2160"),
            ("16:9", "480p", "854x480"),
            ("1:1", "720p", "720x720"),
            ("16:9", "8k", None),
            ("wide", "720p", None),
        ],
    )
    def test_size_for(self, ratio: str, resolution: str, size: str | None) -> None:
        assert size_for(ratio, resolution) == size

    def test_round_trip(self) -> None:
        sizes = sizes_for(["16:9", "9:16"], ["720p", "1080p"])
        assert sizes == ("1280x720", "720x1280", "1920x1080", "1080x1920")
        assert [shape_of(s, ["16:9", "9:16"], ["720p", "1080p"]) for s in sizes] == [
            ("16:9", "720p"), ("9:16", "720p"), ("16:9", "1080p"), ("9:16", "1080p"),
        ]  # fmt: skip
        assert shape_of("640x480", ["16:9"], ["720p"]) is None


def test_gcs_object_parsing() -> None:
    output = GcsObject.parse("gs://bucket/a/b/sample_0.mp4")
    assert (output.bucket, output.name, output.uri) == (
        "bucket",
        "a/b/sample_0.mp4",
        "gs://bucket/a/b/sample_0.mp4",
    )
    for bad in ("gs://bucket", "gs://bucket/", "https://x/y", "gs:///name", "gs://b/o?x=1"):
        with pytest.raises(ValueError):
            GcsObject.parse(bad)


class TestRegistry:
    def test_names_and_default_models(self) -> None:
        assert set(PROVIDERS) == {"openai-videos", "vertex-veo", "openrouter"}
        assert default_model({}) == "sora-2"
        assert default_model({"VIDEO_PROVIDER": "vertex-veo"}) == "veo-3.1-fast-generate-001"
        assert default_model({"VIDEO_PROVIDER": "openrouter"}) == "google/veo-3.1"

    def test_configured_needs_the_key_of_the_chosen_provider(self) -> None:
        assert not provider_configured({})
        assert provider_configured({"OPENAI_API_KEY": "k"})
        assert not provider_configured({"VIDEO_PROVIDER": "openrouter", "OPENAI_API_KEY": "k"})
        assert provider_configured({"VIDEO_PROVIDER": "openrouter", "OPENROUTER_API_KEY": "k"})
        assert provider_configured({"VIDEO_PROVIDER": "vertex-veo"})  # ambient credentials

    def test_unknown_provider(self) -> None:
        with pytest.raises(ConfigError) as info:
            load_settings({**DEV, "VIDEO_PROVIDER": "sora"})
        assert info.value.variable == "VIDEO_PROVIDER" and "vertex-veo" in str(info.value)

    def test_builds_each_http_provider(self) -> None:
        openai = build_provider({"OPENAI_API_KEY": "k"})
        vertex = build_provider(
            {**VERTEX, "GCS_CREDENTIALS_JSON": service_account_key("http://127.0.0.1:9/token")}
        )
        try:
            assert isinstance(openai, OpenAIVideosClient) and isinstance(vertex, VertexVeoClient)
            assert vertex.base_url == "https://us-central1-aiplatform.googleapis.com/v1"
            assert vertex.storage_uri("video_x") == "gs://b/p/provider-output/video_x/"
        finally:
            openai.close()
            vertex.close()


class TestCapabilitiesDriveConfig:
    def test_openai_defaults_unchanged(self) -> None:
        settings = load_settings(DEV)
        assert settings["VIDEO_CAPABILITIES"] == capabilities_for(settings)
        assert (settings["VIDEO_MODEL"], settings["VIDEO_SECONDS"]) == ("sora-2", "8")

    def test_openai_gateway_model_trusts_the_operator(self) -> None:
        settings = load_settings(
            {**DEV, "VIDEO_MODEL": "wan-2", "VIDEO_ALLOWED_SECONDS": "5,10", "VIDEO_SECONDS": "5"}
        )
        assert settings["VIDEO_ALLOWED_SECONDS"] == ["5", "10"]
        assert not settings["VIDEO_CAPABILITIES"].enforced

    def test_vertex_defaults(self) -> None:
        settings = load_settings(VERTEX)
        assert settings["VIDEO_MODEL"] == "veo-3.1-fast-generate-001"
        assert settings["VIDEO_ALLOWED_SECONDS"] == ["4", "6", "8"]
        assert settings["VIDEO_ALLOWED_SIZES"] == ["1280x720", "720x1280", "1920x1080", "1080x1920"]
        assert (settings["VIDEO_SECONDS"], settings["VIDEO_SIZE"]) == ("8", "1280x720")
        assert settings["VIDEO_GENERATE_AUDIO"] is True
        caps = settings["VIDEO_CAPABILITIES"]
        assert caps.audio and not caps.reports_progress and not caps.thumbnails
        assert caps.price("8", "1920x1080") == pytest.approx(0.96)

    def test_4k_only_on_the_full_model(self) -> None:
        sizes = {"VIDEO_SIZE": "3840x2160", "VIDEO_ALLOWED_SIZES": "3840x2160,1280x720"}
        full = load_settings({**VERTEX, "VIDEO_MODEL": "veo-3.1-generate-001", **sizes})
        assert full["VIDEO_SIZE"] == "3840x2160"
        with pytest.raises(ConfigError) as info:
            load_settings({**VERTEX, "VIDEO_ALLOWED_SIZES": "3840x2160,1280x720"})
        assert info.value.variable == "VIDEO_ALLOWED_SIZES"
        assert "1280x720, 720x1280, 1920x1080, 1080x1920" in str(info.value)

    @pytest.mark.parametrize(
        ("environ", "variable"),
        [
            ({"VIDEO_SECONDS": "5"}, "VIDEO_SECONDS"),
            ({"VIDEO_ALLOWED_SECONDS": "4,12"}, "VIDEO_ALLOWED_SECONDS"),
            ({"VIDEO_SIZE": "640x480"}, "VIDEO_SIZE"),
            ({"VIDEO_MODEL": "veo-2.0-generate-001"}, "VIDEO_MODEL"),
            ({"STORAGE_URL": "file:///tmp/x"}, "VERTEX_OUTPUT_URI"),
            ({"VERTEX_OUTPUT_URI": "s3://b"}, "VERTEX_OUTPUT_URI"),
            ({"VERTEX_PROJECT": "", "GCS_CREDENTIALS_JSON": "{not json"}, "GCS_CREDENTIALS_JSON"),
        ],
    )
    def test_vertex_one_line_errors(self, environ: dict[str, str], variable: str) -> None:
        with pytest.raises(ConfigError) as info:
            load_settings({**VERTEX, **environ})
        assert info.value.variable == variable and "\n" not in str(info.value)

    def test_vertex_project_from_the_key_and_missing_project(self) -> None:
        key = service_account_key("http://127.0.0.1:9/token", project="from-key")
        settings = load_settings({**VERTEX, "VERTEX_PROJECT": "", "GCS_CREDENTIALS_JSON": key})
        assert settings["VERTEX_PROJECT"] == "from-key"
        keyless = json.dumps({**json.loads(key), "project_id": None})
        with pytest.raises(ConfigError) as info:
            load_settings({**VERTEX, "VERTEX_PROJECT": "", "GCS_CREDENTIALS_JSON": keyless})
        assert info.value.variable == "VERTEX_PROJECT"

    def test_local_store_with_an_output_bucket(self) -> None:
        settings = load_settings(
            {**VERTEX, "STORAGE_URL": "file:///tmp/x", "VERTEX_OUTPUT_URI": "gs://out/veo/"}
        )
        assert settings["VERTEX_OUTPUT_URI"] == "gs://out/veo"


class TestOpenRouterCatalogConfig:
    """The catalog, served over real loopback HTTP, decides the choices."""

    @pytest.fixture
    def catalog(self, scripted: ScriptedServer) -> ScriptedServer:
        CATALOG.forget()
        scripted.script("/api/v1/videos/models", Reply(body=json.dumps(VEO_CATALOG).encode()))
        yield scripted
        CATALOG.forget()

    def settings(self, server: ScriptedServer, **environ: str) -> dict:
        base = {
            **DEV,
            "VIDEO_PROVIDER": "openrouter",
            "OPENROUTER_BASE_URL": server.url + "/api/v1",
        }
        return load_settings({**base, **environ})

    def test_choices_follow_the_model(self, catalog: ScriptedServer) -> None:
        veo = self.settings(catalog)
        assert veo["VIDEO_ALLOWED_SECONDS"] == ["4", "6", "8"]
        assert veo["VIDEO_ALLOWED_SIZES"][:2] == ["1280x720", "720x1280"]
        assert "3840x2160" in veo["VIDEO_ALLOWED_SIZES"]
        assert veo["VIDEO_CAPABILITIES"].price("8", "1280x720") == pytest.approx(3.2)
        assert veo["VIDEO_CAPABILITIES"].price("4", "3840x2160") == pytest.approx(2.4)
        wan = self.settings(catalog, VIDEO_MODEL="alibaba/wan-2.7")
        assert wan["VIDEO_ALLOWED_SECONDS"] == ["2", "5", "10"] and wan["VIDEO_SECONDS"] == "2"
        assert not wan["VIDEO_CAPABILITIES"].audio
        assert catalog.hits("/api/v1/videos/models") == 1, "cached across loads"

    @pytest.mark.parametrize("model", ["acme/none", "runway/aleph-2"])
    def test_unknown_or_unusable_model_lists_the_offer(
        self, catalog: ScriptedServer, model: str
    ) -> None:
        with pytest.raises(ConfigError) as info:
            self.settings(catalog, VIDEO_MODEL=model)
        assert info.value.variable == "VIDEO_MODEL"
        assert str(info.value).endswith("it offers: alibaba/wan-2.7, google/veo-3.1")

    def test_choice_the_model_cannot_render(self, catalog: ScriptedServer) -> None:
        with pytest.raises(ConfigError) as info:
            self.settings(catalog, VIDEO_SECONDS="5")
        assert info.value.variable == "VIDEO_SECONDS" and "4, 6, 8" in str(info.value)

    def test_catalog_down_at_first_start(self, scripted: ScriptedServer) -> None:
        CATALOG.forget()
        scripted.script("/api/v1/videos/models", Reply(503, b'{"error":{"code":503}}'))
        with pytest.raises(ConfigError) as info:
            self.settings(scripted)
        assert info.value.variable == "OPENROUTER_BASE_URL"
