"""Offline, the loaders try the mirrors once, remember that they could not be reached, and say so briefly.

No network is used: the mirror is a port on 127.0.0.1 where nothing listens (``refused_url``).
"""
import json
import urllib.error

import pytest

from npae.datasets import find_or_sample, offline
from npae.datasets.errors import ChecksumError, DownloadError
from test_datasets import refused_url


@pytest.fixture
def offline_machine(monkeypatch, tmp_path):
    for variable in ("NPAE_DATA", "KERAS_HOME"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("NPAE_MIRROR", refused_url())
    return tmp_path / "cache" / "npae" / "download-failed.json"


def test_an_unreachable_mirror_is_tried_once_then_remembered_for_a_while(offline_machine, capsys):
    first = find_or_sample("mnist")
    tried = capsys.readouterr().err
    assert first.used_sample and "downloading it into" in tried and tried.count("failed: ") == 1
    assert offline_machine.is_file()

    second = find_or_sample("mnist")
    assert second.used_sample and capsys.readouterr().err == ""          # not tried again
    lines = second.message.splitlines()
    assert len(lines) == 3, second.message                                 # a few lines, not 17
    assert lines[0].startswith("NOTICE: using the embedded mnist sample (6,000 training + 1,000 test images)")
    assert "unreachable under a minute ago; not retried for another 30 min (`npae data fetch` retries now)" in lines[1]
    assert "npae data fetch" in lines[2] and "NPAE_DATA" in lines[2]

    entries = json.loads(offline_machine.read_text())                     # a while later: tried again
    entries["mnist"]["time"] -= offline.RETRY_AFTER + 1
    offline_machine.write_text(json.dumps(entries))
    assert find_or_sample("mnist").used_sample
    assert "downloading it into" in capsys.readouterr().err


def test_another_mirror_is_not_covered_by_the_memory(offline_machine, monkeypatch, capsys):
    find_or_sample("mnist")
    capsys.readouterr()
    monkeypatch.setenv("NPAE_MIRROR", refused_url() + "/elsewhere")
    find_or_sample("mnist")
    assert "downloading it into" in capsys.readouterr().err


def test_offline_the_notice_is_short_and_speaks_the_users_language(offline_machine, capsys):
    found = find_or_sample("fashion-mnist", download=False)                # what --offline does
    assert capsys.readouterr().err == "" and not offline_machine.exists()  # nothing tried, nothing remembered
    assert "download=False" not in found.message and "downloading was not tried (offline)" in found.message
    assert len(found.message.splitlines()) == 3


def test_only_a_mirror_that_never_answered_counts_as_offline():
    refused = urllib.error.URLError(ConnectionRefusedError(111, "Connection refused"))
    http = urllib.error.HTTPError("http://x/f.gz", 404, "Not Found", {}, None)
    checksum = ChecksumError("f.gz", "a" * 32, "b" * 32)
    assert offline.unreachable(DownloadError("f.gz", [("u1", refused), ("u2", TimeoutError("slow"))]))
    assert not offline.unreachable(DownloadError("f.gz", [("u1", refused), ("u2", http)]))
    assert not offline.unreachable(DownloadError("f.gz", [("u1", checksum)]))
    assert not offline.unreachable(OSError("cannot create the directory"))


def test_a_download_that_works_forgets_the_failure(offline_machine):
    refused = DownloadError("f.gz", [("u", urllib.error.URLError("refused"))])
    offline.remember("mnist", ["m/"], refused)
    offline.remember("fashion-mnist", ["f/"], refused)
    assert offline.recent_failure("mnist", ["m/"]) is not None
    assert offline.recent_failure("mnist", ["other/"]) is None
    offline.forget("mnist")
    assert offline.recent_failure("mnist", ["m/"]) is None
    assert offline.recent_failure("fashion-mnist", ["f/"]) is not None


def test_a_damaged_memory_file_means_try_again(offline_machine):
    offline_machine.parent.mkdir(parents=True)
    offline_machine.write_text("{not json")
    assert offline.recent_failure("mnist", ["m/"]) is None
    offline_machine.write_text(json.dumps({"mnist": {"time": "yesterday", "mirrors": ["m/"]}}))
    assert offline.recent_failure("mnist", ["m/"]) is None
