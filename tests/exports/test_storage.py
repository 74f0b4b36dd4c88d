"""Keys never leave the export prefix; files appear at their final key only when complete."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime

import pytest
from django.core.files.storage import storages

from apps.core.exceptions import ApplicationError
from apps.exports import storage


@pytest.mark.parametrize(
    "key",
    [
        "assay-exports/../etc/passwd",
        "assay-exports/acme/../../outside.jsonl",
        "../assay-exports/acme/x.jsonl",
        "/etc/passwd",
        "/assay-exports/acme/x.jsonl",
        "assay-exports\\..\\x.jsonl",
        "assay-exports/acme//x.jsonl",
        "assay-exports/./x.jsonl",
        "other-prefix/acme/x.jsonl",
        "C:/assay-exports/x.jsonl",
        "",
    ],
)
def test_keys_outside_the_prefix_are_refused(key, settings):
    settings.EXPORTS_PREFIX = "assay-exports"
    with pytest.raises(ApplicationError):
        storage.key_within_prefix(key)


def test_export_key_layout(settings):
    settings.EXPORTS_PREFIX = "assay-exports"
    key = storage.export_key(
        project_slug="acme",
        source="spans",
        deployment_id="eu-1",
        created_at=datetime(2026, 3, 4, tzinfo=UTC),
        name="17.jsonl.gz",
    )
    assert key == "assay-exports/eu-1/acme/spans/dt=2026-03-04/17.jsonl.gz"


@pytest.mark.parametrize(
    ("slug", "name", "deployment"),
    [
        ("..", "1.jsonl", "d"),
        ("acme", "../1.jsonl", "d"),
        ("ac/me", "1.jsonl", "d"),
        ("acme", "..jsonl", "d"),
        ("acme", "1.jsonl", ".."),
        ("acme", "1.jsonl", "a/b"),
        ("acme", "1.jsonl", ""),
    ],
)
def test_export_key_refuses_unsafe_segments(slug, name, deployment):
    with pytest.raises(ApplicationError):
        storage.export_key(
            project_slug=slug, source="spans", created_at=datetime(2026, 1, 1), name=name, deployment_id=deployment
        )


def test_publish_moves_a_complete_file_and_overwrites_only_its_key(settings):
    settings.EXPORTS_PREFIX = "assay-exports"
    key = "assay-exports/acme/spans/2026/01/01/5.jsonl"
    neighbour = "assay-exports/acme/spans/2026/01/01/6.jsonl"
    storage.publish_bytes(data=b"other job\n", key=neighbour)
    for content in (b"first run\n", b"second run\n"):
        path = storage.temp_file_for(5)
        with open(path, "wb") as fh:
            fh.write(content)
        assert not os.path.exists(storages["exports"].path(key)) or content != b"first run\n"
        assert storage.publish(local_path=path, key=key) == len(content)
        assert not os.path.exists(path)
    with storage.open_for_download(key) as fh:
        assert fh.read() == b"second run\n"
    with storage.open_for_download(neighbour) as fh:
        assert fh.read() == b"other job\n"
    with pytest.raises(ApplicationError):
        storage.publish_bytes(data=b"x", key="assay-exports/../escape.json")


@pytest.mark.parametrize("same_filesystem", [True, False], ids=["rename", "copy-then-rename"])
def test_a_reader_sees_the_old_file_or_the_whole_new_one_never_a_part(settings, monkeypatch, same_filesystem):
    settings.EXPORTS_PREFIX = "assay-exports"
    key = "assay-exports/acme/spans/2026/01/01/7.jsonl"
    storage.publish_bytes(data=b"old\n", key=key)
    target = storages["exports"].path(key)
    new = b"x" * (48 << 20)
    path = storage.temp_file_for(7)
    with open(path, "wb") as fh:
        fh.write(new)
    if not same_filesystem:  # the temp folder on another filesystem: moving the file itself fails
        replace = os.replace

        def cross_device(src, dst):
            if src == path:
                raise OSError(18, "Invalid cross-device link")
            replace(src, dst)

        monkeypatch.setattr(os, "replace", cross_device)
    sizes, watching, stop = set(), threading.Event(), threading.Event()

    def watch():
        while not stop.is_set():
            try:
                sizes.add(os.stat(target).st_size)
            except FileNotFoundError:
                sizes.add(None)
            watching.set()

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        assert watching.wait(timeout=10)
        storage.publish(local_path=path, key=key)
    finally:
        stop.set()
        watcher.join()
    assert sizes <= {4, len(new)} and 4 in sizes
    assert os.path.getsize(target) == len(new)
    assert os.listdir(os.path.dirname(target)) == ["7.jsonl"]  # no staging file left behind
