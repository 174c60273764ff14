"""The S3 store and inbox against moto's S3 server on 127.0.0.1, through boto3 over HTTP.

What matters: files land under the bucket prefix with their content type, nothing partial
ever sits under a final key, keys cannot leave the prefix, concurrent log appends lose no
line, and the inbox notices a spec whose content changed.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from videogen_dagster.store.base import StoreKeyError
from videogen_dagster.store.factory import open_store
from videogen_dagster.store.inbox import InboxEntry
from videogen_dagster.store.s3 import S3Inbox, S3Store, parse_s3_uri


@pytest.fixture
def store(s3_endpoint: str, s3_bucket: str) -> S3Store:
    return S3Store.from_uri(f"s3://{s3_bucket}/videos", endpoint_url=s3_endpoint)


def _head(store: S3Store, key: str) -> dict:
    return store.client.head_object(Bucket=store.bucket, Key=store.prefix + key)


def test_open_store_builds_an_s3_store_from_its_uri(s3_endpoint, s3_bucket) -> None:
    store = open_store(f"s3://{s3_bucket}/a/b/", s3_endpoint_url=s3_endpoint)
    assert isinstance(store, S3Store)
    assert store.uri("v1/final.mp4") == f"s3://{s3_bucket}/a/b/v1/final.mp4"
    store.write_text("v1/manifest.json", "{}", "application/json")
    assert store.read_text("v1/manifest.json") == "{}"


@pytest.mark.parametrize(
    ("uri", "expected"),
    [("s3://b", ("b", "")), ("s3://b/", ("b", "")), ("s3://b/p/q", ("b", "p/q/"))],
)
def test_parse_s3_uri(uri: str, expected: tuple[str, str]) -> None:
    assert parse_s3_uri(uri) == expected


@pytest.mark.parametrize("uri", ["s3://", "https://b/p", "s3://b/../x"])
def test_parse_s3_uri_refuses_bad_uris(uri: str) -> None:
    with pytest.raises(ValueError):
        parse_s3_uri(uri)


def test_bytes_round_trip_with_content_types(store: S3Store) -> None:
    uri = store.write_bytes("v1/storyboard/beat-000.png", b"\x89PNG fake")
    assert uri == f"s3://{store.bucket}/videos/v1/storyboard/beat-000.png"
    store.write_bytes("v1/chunks/c.mp4", b"mp4")
    store.write_bytes("v1/blob.bin", b"x", content_type="application/x-custom")
    store.write_text("v1/spec.json", '{"a": 1}', "application/json")

    assert store.read_bytes("v1/storyboard/beat-000.png") == b"\x89PNG fake"
    assert _head(store, "v1/storyboard/beat-000.png")["ContentType"] == "image/png"
    assert _head(store, "v1/chunks/c.mp4")["ContentType"] == "video/mp4"
    assert _head(store, "v1/blob.bin")["ContentType"] == "application/x-custom"
    assert _head(store, "v1/spec.json")["ContentType"] == "application/json"
    assert store.exists("v1/chunks/c.mp4") and not store.exists("v1/chunks/none.mp4")


def test_missing_object_names_the_key(store: S3Store) -> None:
    with pytest.raises(FileNotFoundError, match="v1/none.mp4"):
        store.read_bytes("v1/none.mp4")
    with pytest.raises(FileNotFoundError, match="v1/none.mp4"), store.local_path("v1/none.mp4"):
        pass


@pytest.mark.parametrize("key", ["../escape.mp4", "/abs.mp4", "a/../../b", "a//b", "a\\b", ""])
def test_keys_that_leave_the_prefix_are_refused_before_any_request(store, key) -> None:
    calls: list[str] = []
    store.client.meta.events.register("before-send.s3", lambda **kw: calls.append("sent"))
    for action in (
        lambda: store.write_bytes(key, b"x"),
        lambda: store.read_bytes(key),
        lambda: store.exists(key),
        lambda: store.delete(key),
    ):
        with pytest.raises(StoreKeyError):
            action()
    assert calls == []


def test_write_file_uploads_big_files_in_parts_with_type(store, tmp_path: Path) -> None:
    big = tmp_path / "final.mp4"
    big.write_bytes(os.urandom(9 * 1024 * 1024))  # above boto3's 8 MB multipart threshold
    store.write_file("v1/final.mp4", big)
    head = _head(store, "v1/final.mp4")
    assert head["ContentType"] == "video/mp4"
    assert "-" in head["ETag"]  # a multipart ETag: the upload went in parts
    assert store.read_bytes("v1/final.mp4") == big.read_bytes()


def test_an_upload_that_fails_midway_leaves_the_old_object(store, tmp_path: Path) -> None:
    store.write_bytes("v1/final.mp4", b"the finished video")
    big = tmp_path / "final.mp4"
    big.write_bytes(os.urandom(9 * 1024 * 1024))
    parts: list[int] = []

    def fail_second_part(**_: object) -> None:
        parts.append(1)
        if len(parts) == 2:
            raise ConnectionError("network dropped during part 2")

    store.client.meta.events.register("before-call.s3.UploadPart", fail_second_part)
    with pytest.raises(Exception, match="part 2"):
        store.write_file("v1/final.mp4", big)
    assert store.read_bytes("v1/final.mp4") == b"the finished video"
    assert list(store.list_keys("v1/")) == ["v1/final.mp4"]


def test_local_path_is_a_temporary_copy_with_the_keys_name(store: S3Store) -> None:
    store.write_bytes("v1/chunks/chunk-001.mp4", b"video bytes")
    with store.local_path("v1/chunks/chunk-001.mp4") as path:
        assert path.name == "chunk-001.mp4"
        assert path.read_bytes() == b"video bytes"
    assert not path.exists()
    assert not path.parent.exists()


def test_list_keys_is_sorted_and_scoped_to_the_prefix(store, s3_endpoint, s3_bucket) -> None:
    for key in ["v1/b.png", "v1/a/c.png", "v10/x.png", "v2/y.png"]:
        store.write_bytes(key, b"x")
    outside = S3Store.from_uri(f"s3://{s3_bucket}/other", endpoint_url=s3_endpoint)
    outside.write_bytes("v1/z.png", b"x")

    assert list(store.list_keys("v1/")) == ["v1/a/c.png", "v1/b.png"]
    assert list(store.list_keys("")) == ["v1/a/c.png", "v1/b.png", "v10/x.png", "v2/y.png"]
    assert list(outside.list_keys("")) == ["v1/z.png"]


def test_delete_removes_and_tolerates_absence(store: S3Store) -> None:
    store.write_bytes("v1/a.png", b"x")
    store.delete("v1/a.png")
    store.delete("v1/a.png")
    assert not store.exists("v1/a.png")


def test_append_line_keeps_every_line_from_concurrent_writers(store: S3Store) -> None:
    store.append_line("v1/costs.jsonl", '{"n": "first"}\n')
    assert store.read_text("v1/costs.jsonl") == '{"n": "first"}\n'

    def writer(worker: int) -> None:
        for i in range(5):
            store.append_line("v1/costs.jsonl", f'{{"w": {worker}, "i": {i}}}')

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = store.read_text("v1/costs.jsonl").splitlines()
    assert len(lines) == 1 + 6 * 5
    assert set(lines[1:]) == {f'{{"w": {w}, "i": {i}}}' for w in range(6) for i in range(5)}
    # Each worker's lines stay in the order it wrote them.
    for w in range(6):
        mine = [line for line in lines if f'"w": {w},' in line]
        assert mine == [f'{{"w": {w}, "i": {i}}}' for i in range(5)]


def test_inbox_lists_specs_with_etags_and_notices_changes(
    s3_endpoint, s3_bucket, s3_admin_client
) -> None:
    client = s3_admin_client
    for key, body in [
        ("inbox/fox.yaml", b"prompt: a fox\n"),
        ("inbox/city.json", b'{"prompt": "a city"}'),
        ("inbox/notes.txt", b"not a spec"),
        ("inbox/nested/deep.yaml", b"prompt: deeper\n"),
        ("elsewhere/other.yaml", b"prompt: no\n"),
    ]:
        client.put_object(Bucket=s3_bucket, Key=key, Body=body)
    inbox = S3Inbox.from_uri(f"s3://{s3_bucket}/inbox/", endpoint_url=s3_endpoint)

    entries = inbox.list_entries()
    assert [e.name for e in entries] == ["city.json", "fox.yaml"]
    fox = entries[1]
    assert fox.video_id == "fox"
    assert inbox.read(fox) == b"prompt: a fox\n"
    assert inbox.describe(fox) == f"s3://{s3_bucket}/inbox/fox.yaml"

    client.put_object(Bucket=s3_bucket, Key="inbox/fox.yaml", Body=b"prompt: a red fox\n")
    changed = {e.name: e for e in inbox.list_entries()}
    assert changed["fox.yaml"].version != fox.version
    assert changed["city.json"] == entries[0]
    assert inbox.read(InboxEntry("fox.yaml", changed["fox.yaml"].version)) == (
        b"prompt: a red fox\n"
    )
