"""HTTP semantics of ``send_stored_object`` (RFC 9110 ranges and conditionals) on both adapters,
and V4 signed URLs (offline signature check, routing and Range on the emulator)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from flask import Flask, request
from flask.testing import FlaskClient
from werkzeug.http import http_date, parse_date

from dreamweb.delivery import signed_redirect
from dreamweb.delivery.ranges import content_disposition, send_stored_object
from dreamweb.errors import ObjectNotFoundError, StorageError
from dreamweb.storage.base import StoredObject, VideoStore
from dreamweb.storage.gcs import GCSVideoStore
from dreamweb.storage.local import LocalVideoStore
from tests.fixtures.gcs import emulator_client
from tests.resources import emulator_connections, open_paths

VIDEO = "videos/video_abcd1234.mp4"
NAME = "dream-video_abcd1234.mp4"
SIZE = 100_000
DATA = bytes((index * 7 + index // 256) % 256 for index in range(SIZE))


class RecordingStore:
    """Wraps a real store (what the server uses of it) and records the ranges it reads."""

    def __init__(self, inner: VideoStore) -> None:
        self.inner = inner
        self.reads: list[tuple[int, int | None]] = []

    def stat(self, key: str) -> StoredObject:
        """The real store's answer."""
        return self.inner.stat(key)

    def open_range(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Record the range, then read it from the real store."""
        self.reads.append((start, end))
        return self.inner.open_range(key, start, end)


def make_app(store: Any) -> Flask:
    """The smallest app that serves one stored object the way dreamweb's API does."""
    app = Flask(__name__)

    @app.get("/video")
    def video() -> Any:
        cache = request.args.get("cache")
        return send_stored_object(
            store,
            VIDEO,
            download_name=NAME,
            as_attachment="inline" not in request.args,
            **({"cache_seconds": int(cache)} if cache is not None else {}),
        )

    @app.get("/signed")
    def signed() -> Any:
        return signed_redirect(store, VIDEO, seconds=300, download_name=NAME)

    @app.errorhandler(ObjectNotFoundError)
    def not_found(_error: Exception) -> Any:
        return "not found", 404

    return app


@pytest.fixture(params=["local", pytest.param("gcs", marks=pytest.mark.emulator)])
def backing(request: pytest.FixtureRequest, tmp_path: Path) -> VideoStore:
    """The real store under test, holding ``DATA`` under ``VIDEO``."""
    if request.param == "local":
        store: VideoStore = LocalVideoStore(tmp_path / "store")
    else:
        store = request.getfixturevalue("gcs_store")
    store.put_stream(VIDEO, [DATA[:40_000], DATA[40_000:]], content_type="video/mp4", size=SIZE)
    return store


@pytest.fixture
def spy(backing: VideoStore) -> RecordingStore:
    """The store the app serves from, recording its reads."""
    return RecordingStore(backing)


@pytest.fixture
def stored(backing: VideoStore) -> StoredObject:
    """What the store reports about the served object."""
    return backing.stat(VIDEO)


@pytest.fixture
def client(spy: RecordingStore) -> FlaskClient:
    """A test client of the app serving ``spy``."""
    return make_app(spy).test_client()


def etag_of(stored: StoredObject) -> str:
    """The ETag header value (quoted) for ``stored``."""
    return f'"{stored.etag}"'


# --- plain GET and HEAD -----------------------------------------------------------------------


def test_get_sends_everything_with_full_headers(
    client: FlaskClient, spy: RecordingStore, stored: StoredObject
) -> None:
    response = client.get("/video")
    assert response.status_code == 200
    assert response.get_data() == DATA
    headers = response.headers
    assert headers["Content-Length"] == str(SIZE)
    assert headers["Accept-Ranges"] == "bytes"
    assert headers["Content-Type"] == "video/mp4"
    assert headers["Content-Disposition"] == f'attachment; filename="{NAME}"'
    assert headers["ETag"] == f'"{hashlib.md5(DATA).hexdigest()}"'
    assert parse_date(headers["Last-Modified"]) == stored.last_modified.replace(microsecond=0)
    assert headers["Cache-Control"] == "private, max-age=31536000, immutable"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Range" not in headers
    assert spy.reads == [(0, None)]


def test_inline_and_no_cache_variants(client: FlaskClient) -> None:
    response = client.get("/video?inline=1&cache=0")
    assert response.headers["Content-Disposition"] == f'inline; filename="{NAME}"'
    assert response.headers["Cache-Control"] == "private, no-cache"


def test_head_sends_the_headers_and_reads_nothing(
    client: FlaskClient, spy: RecordingStore, stored: StoredObject
) -> None:
    response = client.head("/video")
    assert response.status_code == 200
    assert response.get_data() == b""
    assert response.headers["Content-Length"] == str(SIZE)
    assert response.headers["ETag"] == etag_of(stored)
    assert response.headers["Accept-Ranges"] == "bytes"
    assert spy.reads == []


def test_head_with_a_range_describes_the_part(client: FlaskClient, spy: RecordingStore) -> None:
    response = client.head("/video", headers={"Range": "bytes=100-199"})
    assert response.status_code == 206
    assert response.headers["Content-Length"] == "100"
    assert response.headers["Content-Range"] == f"bytes 100-199/{SIZE}"
    assert response.get_data() == b""
    assert spy.reads == []


def test_missing_object_is_404(tmp_path: Path) -> None:
    app = make_app(LocalVideoStore(tmp_path))
    assert app.test_client().get("/video").status_code == 404


def test_a_client_leaving_mid_body_releases_the_local_file(tmp_path: Path) -> None:
    store = LocalVideoStore(tmp_path)
    store.put_stream(VIDEO, [bytes(3 * 1024 * 1024)], content_type="video/mp4")
    response = make_app(store).test_client().get("/video")  # streamed: one chunk pulled
    assert sum(VIDEO.rpartition("/")[2] + "@" in path for path in open_paths()) == 1
    response.close()  # what the WSGI server does when the client goes away
    assert not any(VIDEO.rpartition("/")[2] + "@" in path for path in open_paths())


@pytest.mark.emulator
def test_a_client_leaving_mid_body_releases_the_gcs_connection(
    gcs_store: GCSVideoStore, gcs_emulator: str
) -> None:
    gcs_store.put_stream(VIDEO, [bytes(3 * 1024 * 1024)], content_type="video/mp4")
    # A client of its own: its one connection (stat's, then the body's) is the only new one.
    store = GCSVideoStore(gcs_store.bucket.name, "", emulator_client(gcs_emulator))
    before = emulator_connections(gcs_emulator)
    response = make_app(store).test_client().get("/video")
    streaming = emulator_connections(gcs_emulator) - before
    assert len(streaming) == 1
    response.close()
    assert not streaming & emulator_connections(gcs_emulator)


# --- ranges -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "start", "stop"),
    [
        ("bytes=0-99", 0, 100),
        ("bytes=0-0", 0, 1),
        ("bytes=50000-50000", 50_000, 50_001),
        ("bytes=50000-", 50_000, SIZE),
        ("bytes=-500", SIZE - 500, SIZE),
        ("bytes=-1", SIZE - 1, SIZE),
        ("bytes=-250000", 0, SIZE),  # a suffix longer than the object is all of it
        ("bytes=99990-250000", 99_990, SIZE),  # the end is clipped
        ("BYTES=10-19", 10, 20),  # the unit is case-insensitive
    ],
)
def test_single_range_is_206_with_exact_bytes(
    client: FlaskClient, spy: RecordingStore, header: str, start: int, stop: int
) -> None:
    response = client.get("/video", headers={"Range": header})
    assert response.status_code == 206
    assert response.get_data() == DATA[start:stop]
    assert response.headers["Content-Length"] == str(stop - start)
    assert response.headers["Content-Range"] == f"bytes {start}-{stop - 1}/{SIZE}"
    # Read from the range's start, never from 0 ("None": to the end of the object).
    assert spy.reads == [(start, None if stop == SIZE else stop - 1)]


@pytest.mark.parametrize("header", [f"bytes={SIZE}-", f"bytes={SIZE + 5}-{SIZE + 10}"])
def test_unsatisfiable_range_is_416(client: FlaskClient, spy: RecordingStore, header: str) -> None:
    response = client.get("/video", headers={"Range": header})
    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{SIZE}"
    assert spy.reads == []


@pytest.mark.parametrize(
    "header",
    [
        "bytes=abc",
        "bytes=20-10",
        "bytes=--5",
        "bytes=-0",
        "bytes",
        "items=0-10",
        "bytes=0-1,5-9",  # several ranges: documented choice, the whole object
        "bytes=0-1,-5",
    ],
)
def test_malformed_or_multiple_ranges_get_the_whole_object(
    client: FlaskClient, header: str
) -> None:
    response = client.get("/video", headers={"Range": header})
    assert response.status_code == 200
    assert response.get_data() == DATA
    assert "Content-Range" not in response.headers


# --- If-Range ---------------------------------------------------------------------------------


def test_if_range_with_the_current_etag_honours_the_range(
    client: FlaskClient, stored: StoredObject
) -> None:
    response = client.get("/video", headers={"Range": "bytes=10-19", "If-Range": etag_of(stored)})
    assert response.status_code == 206
    assert response.get_data() == DATA[10:20]


@pytest.mark.parametrize("variant", ["other", "weak", "unquoted"])
def test_if_range_mismatch_or_weak_sends_everything(
    client: FlaskClient, stored: StoredObject, variant: str
) -> None:
    value = {"other": '"0123"', "weak": f"W/{etag_of(stored)}", "unquoted": stored.etag}[variant]
    response = client.get("/video", headers={"Range": "bytes=10-19", "If-Range": value})
    assert response.status_code == 200
    assert response.get_data() == DATA


def test_if_range_with_the_exact_date_honours_the_range(
    client: FlaskClient, stored: StoredObject
) -> None:
    headers = {"Range": "bytes=-10", "If-Range": http_date(stored.last_modified)}
    response = client.get("/video", headers=headers)
    assert response.status_code == 206
    assert response.get_data() == DATA[-10:]


@pytest.mark.parametrize("shift", [-10, 10])
def test_if_range_with_another_date_sends_everything(
    client: FlaskClient, stored: StoredObject, shift: int
) -> None:
    moment = stored.last_modified + timedelta(seconds=shift)
    response = client.get("/video", headers={"Range": "bytes=-10", "If-Range": http_date(moment)})
    assert response.status_code == 200
    assert response.get_data() == DATA


# --- If-None-Match / If-Modified-Since / If-Match ---------------------------------------------


@pytest.mark.parametrize("form", ["exact", "weak", "list", "star"])
def test_if_none_match_is_304(
    client: FlaskClient, spy: RecordingStore, stored: StoredObject, form: str
) -> None:
    value = {
        "exact": etag_of(stored),
        "weak": f"W/{etag_of(stored)}",  # If-None-Match compares weakly
        "list": f'"nope", {etag_of(stored)}',
        "star": "*",
    }[form]
    response = client.get("/video", headers={"If-None-Match": value, "Range": "bytes=0-9"})
    assert response.status_code == 304
    assert response.get_data() == b""
    assert response.headers["ETag"] == etag_of(stored)
    assert response.headers["Cache-Control"] == "private, max-age=31536000, immutable"
    assert "Content-Length" not in response.headers
    assert spy.reads == []


def test_if_none_match_mismatch_sends_the_object(client: FlaskClient) -> None:
    response = client.get("/video", headers={"If-None-Match": '"something-else"'})
    assert response.status_code == 200
    assert response.get_data() == DATA


@pytest.mark.parametrize(("shift", "status"), [(0, 304), (3600, 304), (-3600, 200)])
def test_if_modified_since(
    client: FlaskClient, stored: StoredObject, shift: int, status: int
) -> None:
    moment = stored.last_modified + timedelta(seconds=shift)
    response = client.get("/video", headers={"If-Modified-Since": http_date(moment)})
    assert response.status_code == status
    assert response.get_data() == (b"" if status == 304 else DATA)


def test_if_none_match_takes_precedence_over_if_modified_since(
    client: FlaskClient, stored: StoredObject
) -> None:
    headers = {
        "If-None-Match": '"stale"',
        "If-Modified-Since": http_date(stored.last_modified + timedelta(days=1)),
    }
    assert client.get("/video", headers=headers).status_code == 200


def test_if_match_and_if_unmodified_since_fail_with_412(
    client: FlaskClient, stored: StoredObject
) -> None:
    assert client.get("/video", headers={"If-Match": '"other"'}).status_code == 412
    assert client.get("/video", headers={"If-Match": etag_of(stored)}).status_code == 200
    assert client.get("/video", headers={"If-Match": f"W/{etag_of(stored)}"}).status_code == 412
    earlier = http_date(stored.last_modified - timedelta(hours=1))
    assert client.get("/video", headers={"If-Unmodified-Since": earlier}).status_code == 412


# --- Content-Disposition ----------------------------------------------------------------------


def test_content_disposition_encodes_non_ascii_names() -> None:
    assert content_disposition(None, inline=True) == "inline"
    assert content_disposition("a.mp4", inline=False) == 'attachment; filename="a.mp4"'
    value = content_disposition('rêve "1".mp4', inline=False)
    assert value == (
        "attachment; filename=\"reve _1_.mp4\"; filename*=UTF-8''r%C3%AAve%20%221%22.mp4"
    )


# --- signed URLs ------------------------------------------------------------------------------


def test_signed_url_is_a_valid_v4_signature_made_offline(
    signing_key: tuple[rsa.RSAPrivateKey, dict[str, str]],
) -> None:
    key, info = signing_key
    config = {"STORAGE_URL": "gs://dreamweb-videos/prod", "GCS_CREDENTIALS_JSON": json.dumps(info)}
    url = GCSVideoStore.from_config(config).signed_url(
        VIDEO, seconds=900, download_name=NAME, inline=False
    )
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc) == ("https", "storage.googleapis.com")
    assert parts.path == "/dreamweb-videos/prod/" + VIDEO
    query = dict(parse_qsl(parts.query))
    date = query["X-Goog-Date"]
    scope = f"{date[:8]}/auto/storage/goog4_request"
    assert query["X-Goog-Algorithm"] == "GOOG4-RSA-SHA256"
    assert query["X-Goog-Credential"] == f"{info['client_email']}/{scope}"
    assert query["X-Goog-Expires"] == "900"
    assert query["X-Goog-SignedHeaders"] == "host"
    assert query["response-content-disposition"] == f'attachment; filename="{NAME}"'
    signature = bytes.fromhex(query.pop("X-Goog-Signature"))
    canonical_query = urlencode(sorted(query.items()), quote_via=quote)
    canonical_request = "\n".join(
        ["GET", parts.path, canonical_query, f"host:{parts.netloc}", "", "host", "UNSIGNED-PAYLOAD"]
    )
    string_to_sign = "\n".join(
        ["GOOG4-RSA-SHA256", date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    key.public_key().verify(  # raises InvalidSignature if the URL was not signed by our key
        signature, string_to_sign.encode(), padding.PKCS1v15(), hashes.SHA256()
    )


def test_signed_urls_need_a_signer(tmp_path: Path) -> None:
    with pytest.raises(StorageError):
        LocalVideoStore(tmp_path).signed_url(VIDEO, seconds=60)


@pytest.mark.emulator
def test_anonymous_emulator_store_cannot_sign(gcs_store: GCSVideoStore) -> None:
    with pytest.raises(StorageError):
        gcs_store.signed_url(VIDEO, seconds=60)


@pytest.mark.emulator
def test_signed_url_routes_to_the_emulator_and_honours_range(
    gcs_config: dict[str, str], signing_key: tuple[rsa.RSAPrivateKey, dict[str, str]]
) -> None:
    store = GCSVideoStore.from_config(
        {**gcs_config, "GCS_CREDENTIALS_JSON": json.dumps(signing_key[1])}
    )
    store.put_stream(VIDEO, [DATA], content_type="video/mp4")
    url = store.signed_url(VIDEO, seconds=120, download_name=NAME)
    assert url.startswith(f"{gcs_config['STORAGE_EMULATOR_HOST']}/")
    whole = requests.get(url, timeout=5)
    assert whole.status_code == 200 and whole.content == DATA
    part = requests.get(url, headers={"Range": "bytes=1000-1999"}, timeout=5)
    assert part.status_code == 206
    assert part.content == DATA[1000:2000]

    response = make_app(store).test_client().get("/signed")
    assert response.status_code == 302
    assert response.headers["Cache-Control"] == "no-store"
    location = urlsplit(response.headers["Location"])
    assert location.path.endswith("/" + VIDEO)
    assert "X-Goog-Signature" in dict(parse_qsl(location.query))


@pytest.mark.emulator
def test_signed_redirect_for_a_missing_object_is_404(gcs_config: dict[str, str]) -> None:
    store = GCSVideoStore.from_config(gcs_config)
    assert make_app(store).test_client().get("/signed").status_code == 404
