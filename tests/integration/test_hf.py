"""epochcache in front of the Hugging Face Hub, played by tests/integration/fake_hub.py on
127.0.0.1 (a Hub and a second "CDN" server that reads are redirected to): a real worker started
with ``--under hf://datasets/org/name`` and HF_ENDPOINT pointing at the fake reads, range-reads,
stats and lists (every tree page) what the fake holds; the token reaches the Hub but never the
CDN; a moved branch gives the new commit's bytes only once the revision is resolved again, and
never a mix; 429 waits for Retry-After; escapes and a bad token are refused clearly.

Behaviour pinned here: the worker resolves a revision to a commit at most once per
EPOCHCACHE_HF_REVISION_TTL and its versions name the commit, so a file's bytes for a version
never change."""

from __future__ import annotations

import http.client
import logging
import os
import pickle
import sys
import time
import uuid
from pathlib import Path

import pytest

from epochcache import EpochCacheFileSystem
from epochcache.local_worker import LocalWorker

sys.path.insert(0, str(Path(__file__).parent))
from fake_hub import FakeHub  # noqa: E402

TOKEN = "hf_" + uuid.uuid4().hex  # unique, so any occurrence anywhere is a leak
REPO = "org/name"
ROOT = f"hf://datasets/{REPO}"
PAGE = 64 * 1024  # the worker's page size here, so a few files span several pages


def _files() -> dict[str, bytes]:
    rng = __import__("random").Random(13)
    files = {
        "README.md": b"# a dataset\n",
        "data/train-0.bin": rng.randbytes(3 * PAGE + 123),
        "data/train-1.bin": rng.randbytes(PAGE // 2),
        "data/sub/deep.txt": b"deep inside",
        "data/odd name+%.txt": b"awkward",
    }
    files.update({f"many/f-{i:03d}.txt": f"file {i}".encode() for i in range(25)})
    return files


@pytest.fixture()
def hub():
    h = FakeHub(token=TOKEN, page_size=10)
    h.commit("dataset", REPO, _files())
    yield h
    h.close()


def _worker(hub: FakeHub, tmp_path: Path, token: str = TOKEN, ttl: str = "1") -> LocalWorker:
    env = {"HF_ENDPOINT": hub.url, "HF_TOKEN": token, "EPOCHCACHE_HF_REVISION_TTL": ttl,
           "HOME": str(tmp_path), "HF_HOME": str(tmp_path / "hf")}
    return LocalWorker(tmp_path / "cache", under=ROOT, env=env,
                       extra_args=["--metadata-ttl", "1s", "--page-size", str(PAGE)])


@pytest.fixture()
def worker(hub, tmp_path):
    w = _worker(hub, tmp_path).start()
    yield w
    w.kill()


@pytest.fixture()
def fs(worker):
    return EpochCacheFileSystem(target_protocol="hf", worker_hosts=[worker.address],
                                metadata_ttl=1.0, direct_fallback=False, skip_instance_cache=True)


def _get(worker: LocalWorker, target: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", worker.port, timeout=30)
    try:
        conn.putrequest("GET", target, skip_host=False, skip_accept_encoding=True)
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_read_range_stat_and_list_every_page(hub, fs):
    files = _files()
    big = files["data/train-0.bin"]
    assert fs.cat_file(f"{ROOT}/data/train-0.bin") == big
    assert fs.cat_file(f"{ROOT}/data/train-0.bin", start=PAGE - 10, end=2 * PAGE + 10) == \
        big[PAGE - 10:2 * PAGE + 10]
    assert fs.cat_file(f"{ROOT}/data/odd name+%.txt") == b"awkward"

    info = fs.info(f"{ROOT}/data/train-0.bin")
    assert info["size"] == len(big) and info["type"] == "file"
    assert info["version"].startswith("hf:" + hub.repos[("dataset", REPO)].branches["main"])
    assert fs.info(f"{ROOT}/data")["type"] == "directory"
    with pytest.raises(FileNotFoundError):
        fs.info(f"{ROOT}/data/missing.bin")

    top = sorted(fs.ls(ROOT, detail=False))
    assert top == [f"datasets/{REPO}/{n}" for n in ("README.md", "data", "many")]
    many = fs.ls(f"{ROOT}/many", detail=True)
    assert sorted(e["name"] for e in many) == [f"datasets/{REPO}/many/f-{i:03d}.txt"
                                                for i in range(25)]
    assert all(e["size"] == len(f"file {int(e['name'][-7:-4])}") for e in many)
    found = fs.find(ROOT)
    assert sorted(found) == sorted(f"datasets/{REPO}/{p}" for p in files)
    # 25 entries at 10 a page: the listing of many/ took every page (cursor 10 and 20).
    tree = [r.target for r in hub.requests("hub") if "/tree/" in r.target]
    assert any("many" in t and "cursor=20" in t for t in tree), tree


def test_token_reaches_the_hub_but_never_the_cdn(hub, fs):
    assert fs.cat_file(f"{ROOT}/data/train-1.bin") == _files()["data/train-1.bin"]
    hub_requests, cdn_requests = hub.requests("hub"), hub.requests("cdn")
    assert hub_requests and cdn_requests
    assert {r.authorization for r in hub_requests} == {f"Bearer {TOKEN}"}
    assert {r.authorization for r in cdn_requests} == {None}
    # Reads were redirected: the Hub answered 302 to resolve URLs naming a commit, not "main".
    resolves = [r for r in hub_requests if "/resolve/" in r.target]
    assert resolves and all(r.status == 302 and "/resolve/main/" not in r.target
                            for r in resolves)


def test_moved_branch_gives_new_bytes_only_after_re_resolution_never_a_mix(hub, fs):
    path = f"{ROOT}/data/train-0.bin"
    old = _files()["data/train-0.bin"]
    new = bytes(b ^ 0xFF for b in old)  # same size, every byte different
    assert fs.cat_file(path) == old  # every page cached under the old commit's version
    old_sha = hub.repos[("dataset", REPO)].branches["main"]
    new_sha = hub.commit("dataset", REPO, {"data/train-0.bin": new})
    seen = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        got = fs.cat_file(path)
        assert got in (old, new), "a read mixed bytes of two commits"
        seen.append(got == new)
        if got == new:
            break
        time.sleep(0.2)
    assert seen and seen[-1], "the moved branch was never picked up"
    # And it stays on the new commit; ranges across page boundaries are the new bytes too.
    assert fs.cat_file(path, start=PAGE - 5, end=PAGE + 5) == new[PAGE - 5:PAGE + 5]
    cdn = [r.target for r in hub.requests("cdn")]
    assert any(old_sha in t for t in cdn) and any(new_sha in t for t in cdn)
    # The branch name itself never reached a resolve URL: every read named a commit.
    assert not [r for r in hub.requests("hub") if "/resolve/main/" in r.target]


def test_429_waits_for_retry_after(hub, fs):
    hub.answer_429(1)
    assert fs.cat_file(f"{ROOT}/README.md") == b"# a dataset\n"
    log = hub.requests("hub")
    limited = [i for i, r in enumerate(log) if r.status == 429]
    assert len(limited) == 1
    i = limited[0]
    retry = next(r for r in log[i + 1:] if r.target == log[i].target)
    assert retry.status != 429
    assert retry.at - log[i].at >= 0.9  # it waited the second Retry-After asked for


@pytest.mark.parametrize("path", [
    f"{ROOT}/../other/x",
    f"{ROOT}/data/%2e%2e/%2e%2e/x",
    "hf://datasets/org/other/README.md",
    "hf://org/name/README.md",
    f"{ROOT}@dev/README.md",
])
def test_path_escapes_are_refused_and_nothing_reaches_the_hub(hub, worker, path):
    before = len(hub.requests())
    status, body = _get(worker, f"/v1/read?path={path}")
    assert status in (400, 403), (status, body)
    assert len(hub.requests()) == before


def test_bad_token_is_a_clear_refusal_without_the_token(hub, tmp_path):
    wrong = "hf_wrong_" + uuid.uuid4().hex
    w = _worker(hub, tmp_path, token=wrong).start()
    try:
        status, body = _get(w, f"/v1/stat?path={ROOT}/README.md")
        assert status == 403, (status, body)
        text = body.decode(errors="replace")
        assert "HTTP 401" in text and "HF_TOKEN" in text
        assert wrong not in text and TOKEN not in text
        fs = EpochCacheFileSystem(target_protocol="hf", worker_hosts=[w.address],
                                  direct_fallback=False, skip_instance_cache=True)
        with pytest.raises(PermissionError) as err:
            fs.cat_file(f"{ROOT}/README.md")
        assert wrong not in str(err.value)
    finally:
        w.stop()
    # The Hub echoed the wrong token in its 401 body; it went nowhere else.
    assert wrong not in w.log_path.read_text(errors="replace")
    assert {r.authorization for r in hub.requests("hub")} == {f"Bearer {wrong}"}


def test_huggingface_hub_reads_the_fake_exactly_as_epochcache_does(hub, fs):
    """A client nobody here wrote checks the fake: huggingface_hub's HfFileSystem, pointed at
    the same server, lists and reads exactly what epochcache does. (Skipped where
    huggingface_hub is not installed.)"""
    hf_fs_module = pytest.importorskip("huggingface_hub.hf_file_system")
    direct = hf_fs_module.HfFileSystem(endpoint=hub.url, token=TOKEN, skip_instance_cache=True)
    for path in (ROOT, f"{ROOT}/data", f"{ROOT}/many"):
        theirs = sorted((e["name"], e["type"], e["size"]) for e in direct.ls(path, detail=True))
        ours = sorted((e["name"], e["type"], e["size"]) for e in fs.ls(path, detail=True))
        assert theirs == ours, path
    assert sorted(direct.find(ROOT)) == sorted(fs.find(ROOT))
    for name in _files():
        assert direct.cat_file(f"{ROOT}/{name}") == fs.cat_file(f"{ROOT}/{name}"), name
    assert direct.cat_file(f"{ROOT}/data/train-0.bin", start=10, end=PAGE + 10) == \
        fs.cat_file(f"{ROOT}/data/train-0.bin", start=10, end=PAGE + 10)


def test_direct_reads_go_through_huggingface_hub_when_no_worker_answers(hub, fs, tmp_path,
                                                                       monkeypatch, caplog):
    """Every worker dead: reads, info, ls/find and file objects are served by huggingface_hub's
    HfFileSystem made from target_options (endpoint, token), exactly as the worker serves
    them; one warning, without the token; none with direct_fallback=False."""
    pytest.importorskip("huggingface_hub")
    from epochcache_dev.local_servers import free_port

    for name in ("HF_TOKEN", "HF_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-client"))  # no cached login is used
    caplog.set_level(logging.WARNING, logger="epochcache")
    dead = f"127.0.0.1:{free_port()}"
    options = {"endpoint": hub.url, "token": TOKEN}
    direct = EpochCacheFileSystem(target_protocol="hf", worker_hosts=[dead],
                                  target_options=options, connect_timeout=1,
                                  skip_instance_cache=True)
    files = _files()
    for name, data in files.items():
        assert direct.cat_file(f"{ROOT}/{name}") == data, name
    big = files["data/train-0.bin"]
    assert direct.cat_file(f"{ROOT}/data/train-0.bin", start=PAGE - 10, end=2 * PAGE + 10) == \
        big[PAGE - 10:2 * PAGE + 10]
    with direct.open(f"{ROOT}/data/train-0.bin") as f:
        f.seek(PAGE + 1)
        assert f.read(100) == big[PAGE + 1:PAGE + 101]
        buf = bytearray(PAGE)
        assert f.readinto(buf) == PAGE and bytes(buf) == big[PAGE + 101:2 * PAGE + 101]

    def shape(entries):
        return sorted((e["name"], e["type"], e["size"]) for e in entries)

    for path in (f"{ROOT}/data/train-0.bin", f"{ROOT}/data"):
        assert shape([direct.info(path)]) == shape([fs.info(path)]), path
    for path in (ROOT, f"{ROOT}/data", f"{ROOT}/many"):
        assert shape(direct.ls(path, detail=True)) == shape(fs.ls(path, detail=True)), path
    assert direct.find(ROOT) == fs.find(ROOT)
    with pytest.raises(FileNotFoundError):
        direct.info(f"{ROOT}/data/missing.bin")
    # The token named in the options is the one the Hub saw.
    assert {r.authorization for r in hub.requests("hub")} == {f"Bearer {TOKEN}"}

    stats = direct.client_stats()
    assert stats["direct_reads"] >= len(files) and stats["direct_metadata"] >= 5
    warnings = [r.getMessage() for r in caplog.records if r.name == "epochcache"]
    assert len(warnings) == 1, warnings
    assert "through huggingface_hub" in warnings[0] and dead in warnings[0]
    assert TOKEN not in warnings[0] and TOKEN not in repr(direct.storage_options)
    # The HfFileSystem is not pickled: the receiving side makes its own from the options.
    assert pickle.loads(pickle.dumps(direct)).cat_file(f"{ROOT}/README.md") == \
        files["README.md"]

    off = EpochCacheFileSystem(target_protocol="hf", worker_hosts=[dead], target_options=options,
                               connect_timeout=1, direct_fallback=False,
                               skip_instance_cache=True)
    with pytest.raises(ConnectionError, match=dead):
        off.cat_file(f"{ROOT}/README.md")
