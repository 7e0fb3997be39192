"""A small stand-in for the Hugging Face Hub on 127.0.0.1, for integration tests.

Two threaded HTTP servers: the Hub, which implements the documented endpoints the Hugging Face
under store uses (and huggingface_hub's HfFileSystem reads: repository info, revision info, the
tree API with cursor pagination in a ``Link: <...>; rel="next"`` header, ``paths-info``, and
``resolve``), and a "CDN" on another port that ``resolve`` redirects every read to with a 302, as
the real Hub sends LFS and Xet reads to its CDN. Both record the ``Authorization`` header of
every request, so a test can check where a token went. A test changes the repositories directly
(commit, move a branch), asks the Hub to answer the next requests 429 with ``Retry-After``, and
reads the request log.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
_URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}


@dataclass
class Repo:
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)  # sha -> path -> bytes
    branches: dict[str, str] = field(default_factory=dict)  # name -> sha


@dataclass
class Request:
    server: str  # "hub" or "cdn"
    method: str
    target: str
    authorization: str | None
    status: int
    at: float  # time.monotonic()


def _blob_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # noqa: S324 - git's id


class FakeHub:
    """``token``: when set, the Hub answers 401 to requests without ``Bearer <token>`` (and
    echoes the header it got in the body, as careless servers do). ``page_size``: tree entries
    per page, small so that listings take several pages. ``lfs_over``: files at least this big
    are described as LFS files."""

    def __init__(self, token: str | None = None, page_size: int = 10, lfs_over: int = 1024):
        self.token = token
        self.page_size = page_size
        self.lfs_over = lfs_over
        self.repos: dict[tuple[str, str], Repo] = {}
        self.log: list[Request] = []
        self._lock = threading.Lock()
        self._pending_429 = 0
        self._commit_counter = 0
        self._hub = ThreadingHTTPServer(("127.0.0.1", 0), self._handler("hub"))
        self._cdn = ThreadingHTTPServer(("127.0.0.1", 0), self._handler("cdn"))
        for server in (self._hub, self._cdn):
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()

    # -- addresses and control -----------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._hub.server_address[1]}"

    @property
    def cdn_url(self) -> str:
        return f"http://127.0.0.1:{self._cdn.server_address[1]}"

    def close(self) -> None:
        for server in (self._hub, self._cdn):
            server.shutdown()
            server.server_close()

    def commit(self, repo_type: str, repo_id: str, files: dict[str, bytes],
               branch: str = "main", base: bool = True) -> str:
        """A new commit on `branch` holding the branch's files (if `base`) updated with `files`
        (a value of None deletes); returns its sha."""
        with self._lock:
            repo = self.repos.setdefault((repo_type, repo_id), Repo())
            tree = dict(repo.commits.get(repo.branches.get(branch, ""), {})) if base else {}
            for path, data in files.items():
                if data is None:
                    tree.pop(path, None)
                else:
                    tree[path] = data
            self._commit_counter += 1
            sha = hashlib.sha1(f"{repo_id}:{self._commit_counter}".encode()).hexdigest()  # noqa: S324
            repo.commits[sha] = tree
            repo.branches[branch] = sha
            return sha

    def move_branch(self, repo_type: str, repo_id: str, branch: str, sha: str) -> None:
        with self._lock:
            self.repos[(repo_type, repo_id)].branches[branch] = sha

    def answer_429(self, times: int = 1) -> None:
        """The next `times` Hub API requests are answered 429 with Retry-After: 1."""
        with self._lock:
            self._pending_429 = times

    def requests(self, server: str | None = None) -> list[Request]:
        with self._lock:
            return [r for r in self.log if server is None or r.server == server]

    # -- the servers -----------------------------------------------------------------------------

    def _handler(self, name: str):
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                hub._serve(name, self, head=False)

            def do_HEAD(self):
                hub._serve(name, self, head=True)

            def do_POST(self):
                hub._serve(name, self, head=False)

        return Handler

    def _reply(self, server: str, h: BaseHTTPRequestHandler, status: int, body: bytes = b"",
               headers: dict[str, str] | None = None, head: bool = False,
               content_length: int | None = None) -> None:
        with self._lock:
            self.log.append(Request(server, h.command, h.path, h.headers.get("Authorization"),
                                    status, time.monotonic()))
        h.send_response(status)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body) if content_length is None else content_length))
        h.end_headers()
        if not head:
            h.wfile.write(body)

    def _json(self, server, h, status, obj, headers=None, head=False):
        self._reply(server, h, status, json.dumps(obj).encode(),
                    {"Content-Type": "application/json", **(headers or {})}, head)

    def _serve(self, server: str, h: BaseHTTPRequestHandler, head: bool) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        form = parse_qs(h.rfile.read(length).decode()) if length else {}
        if server == "cdn":
            return self._serve_cdn(h, head)
        if self.token is not None and h.headers.get("Authorization") != f"Bearer {self.token}":
            got = h.headers.get("Authorization") or "(none)"
            return self._json("hub", h, 401, {"error": f"Invalid credentials in Authorization "
                                                        f"header: {got}"}, head=head)
        with self._lock:
            limited = self._pending_429 > 0
            if limited:
                self._pending_429 -= 1
        if limited:
            return self._json("hub", h, 429, {"error": "rate limited"}, {"Retry-After": "1"}, head)
        split = urlsplit(h.path)
        query = parse_qs(split.query)
        parts = split.path.split("/")[1:]  # still %-encoded
        if parts and parts[0] == "api":
            return self._serve_api(h, parts[1:], query, form, head)
        return self._serve_resolve(h, parts, head)

    def _repo(self, repo_type: str, repo_id: str) -> Repo | None:
        return self.repos.get((repo_type, repo_id))

    def _commit_of(self, repo: Repo, revision: str) -> str | None:
        if revision in repo.commits:
            return revision
        return repo.branches.get(revision)

    def _serve_api(self, h, parts, query, form, head) -> None:
        # /api/{type}s/{ns}/{name}[/revision/{rev} | /tree/{rev}[/path] | /paths-info/{rev}]
        if len(parts) < 3 or parts[0] not in _TYPES:
            return self._json("hub", h, 404, {"error": "not found"}, head=head)
        repo_type, repo_id = _TYPES[parts[0]], f"{parts[1]}/{parts[2]}"
        repo = self._repo(repo_type, repo_id)
        if repo is None:
            return self._json("hub", h, 404, {"error": "Repository not found"},
                              {"X-Error-Code": "RepoNotFound"}, head)
        rest = parts[3:]
        kind = rest[0] if rest else "revision"
        revision = unquote(rest[1]) if len(rest) > 1 else "main"
        with self._lock:
            sha = self._commit_of(repo, revision)
            files = dict(repo.commits.get(sha, {}))
        if sha is None:
            return self._json("hub", h, 404, {"error": f"Invalid rev id: {revision}"},
                              {"X-Error-Code": "RevisionNotFound"}, head)
        if kind == "revision" and len(rest) <= 2:
            siblings = [{"rfilename": p} for p in sorted(files)]
            return self._json("hub", h, 200, {"id": repo_id, "sha": sha, "private": False,
                                              "siblings": siblings}, head=head)
        if kind == "tree":
            path = "/".join(unquote(p) for p in rest[2:]).strip("/")
            recursive = query.get("recursive", ["false"])[0].lower() == "true"
            return self._serve_tree(h, files, path, recursive, query, head)
        if kind == "paths-info":
            paths = form.get("paths", [])
            out = [e for e in self._entries(files, "", True) if e["path"] in paths]
            return self._json("hub", h, 200, out, head=head)
        return self._json("hub", h, 404, {"error": "not found"}, head=head)

    def _entry(self, path: str, data: bytes) -> dict:
        entry = {"type": "file", "oid": _blob_oid(data), "size": len(data), "path": path}
        if len(data) >= self.lfs_over:
            entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data),
                            "pointerSize": 134}
        return entry

    def _entries(self, files: dict[str, bytes], path: str, recursive: bool) -> list[dict]:
        prefix = f"{path}/" if path else ""
        out: dict[str, dict] = {}
        for name, data in files.items():
            if not name.startswith(prefix):
                continue
            rel = name[len(prefix):].split("/")
            if not recursive and len(rel) > 1:
                d = prefix + rel[0]
                out[d] = {"type": "directory", "oid": hashlib.sha1(d.encode()).hexdigest(),  # noqa: S324
                          "size": 0, "path": d}
                continue
            for i in range(1, len(rel)):
                d = prefix + "/".join(rel[:i])
                out[d] = {"type": "directory", "oid": hashlib.sha1(d.encode()).hexdigest(),  # noqa: S324
                          "size": 0, "path": d}
            out[name] = self._entry(name, data)
        # The Hub's order is not path order (directories first); clients must sort.
        return sorted(out.values(), key=lambda e: (e["type"] != "directory", e["path"]))

    def _serve_tree(self, h, files, path, recursive, query, head) -> None:
        if path and not any(name.startswith(path + "/") for name in files):
            return self._json("hub", h, 404, {"error": f"{path} does not exist on this revision"},
                              {"X-Error-Code": "EntryNotFound"}, head)
        entries = self._entries(files, path, recursive)
        start = int(query.get("cursor", ["0"])[0])
        page = entries[start:start + self.page_size]
        headers = {}
        if start + self.page_size < len(entries):
            split = urlsplit(h.path)
            keep = "&".join(f"{k}={quote(v[0])}" for k, v in parse_qs(split.query).items()
                            if k != "cursor")
            nxt = f"{self.url}{split.path}?{keep}{'&' if keep else ''}cursor={start + self.page_size}"
            headers["Link"] = f'<{nxt}>; rel="next"'
        return self._json("hub", h, 200, page, headers, head)

    def _serve_resolve(self, h, parts, head) -> None:
        # /{prefix}{ns}/{name}/resolve/{rev}/{path...}
        repo_type = "model"
        if parts and parts[0] in ("datasets", "spaces"):
            repo_type, parts = _TYPES[parts[0]], parts[1:]
        if len(parts) < 5 or parts[2] != "resolve":
            return self._json("hub", h, 404, {"error": "not found"}, head=head)
        repo = self._repo(repo_type, f"{parts[0]}/{parts[1]}")
        if repo is None:
            return self._json("hub", h, 404, {"error": "Repository not found"}, head=head)
        revision = unquote(parts[3])
        path = "/".join(unquote(p) for p in parts[4:])
        with self._lock:
            sha = self._commit_of(repo, revision)
            data = repo.commits.get(sha, {}).get(path)
        if data is None:
            return self._json("hub", h, 404, {"error": "Entry not found"},
                              {"X-Error-Code": "EntryNotFound"}, head)
        entry = self._entry(path, data)
        etag = entry["lfs"]["oid"] if "lfs" in entry else entry["oid"]
        target = f"{self.cdn_url}/{_URL_PREFIX[repo_type]}{parts[0]}/{parts[1]}/{sha}/{quote(path)}"
        return self._reply("hub", h, 302, b"", {
            "Location": target, "X-Repo-Commit": sha, "ETag": f'"{etag}"',
            "X-Linked-Size": str(len(data)), "X-Linked-Etag": f'"{etag}"'}, head)

    def _serve_cdn(self, h, head) -> None:
        # /{prefix}{ns}/{name}/{sha}/{path...}: the commit is in the URL, so a link is immutable.
        parts = urlsplit(h.path).path.split("/")[1:]
        repo_type = "model"
        if parts and parts[0] in ("datasets", "spaces"):
            repo_type, parts = _TYPES[parts[0]], parts[1:]
        repo = self._repo(repo_type, "/".join(parts[:2])) if len(parts) >= 4 else None
        with self._lock:
            data = (repo.commits.get(parts[2], {}).get("/".join(unquote(p) for p in parts[3:]))
                    if repo else None)
        if data is None:
            return self._reply("cdn", h, 404, b"no such blob", head=head)
        rng = h.headers.get("Range")
        headers = {"ETag": f'"{hashlib.sha256(data).hexdigest()}"', "Accept-Ranges": "bytes"}
        if rng and rng.startswith("bytes="):
            first, _, last = rng[len("bytes="):].partition("-")
            start = int(first)
            end = min(int(last) if last else len(data) - 1, len(data) - 1)
            if start >= len(data):
                headers["Content-Range"] = f"bytes */{len(data)}"
                return self._reply("cdn", h, 416, b"", headers, head)
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            return self._reply("cdn", h, 206, data[start:end + 1], headers, head)
        return self._reply("cdn", h, 200, data, headers, head)
