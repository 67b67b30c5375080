"""ml.download against a local HTTP server: resume (Range), sha256 check, unpack."""

from __future__ import annotations

import hashlib
import io
import random
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ml.download import SPEECH_COMMANDS_SHA256, DownloadError, download, unpack

REPO = Path(__file__).resolve().parents[1]


def make_tarball() -> bytes:
    """A tiny archive in Speech Commands' native layout (members under ./)."""
    buf = io.BytesIO()
    files = {
        "./yes/0a7c2a8d_nohash_0.wav": b"RIFF-not-really" * 40,
        # incompressible, so the archive is big enough to cut in the middle
        "./_background_noise_/white_noise.wav": random.Random(0).randbytes(8000),
        "./validation_list.txt": b"yes/0a7c2a8d_nohash_0.wav\n",
        "./testing_list.txt": b"",
    }
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class Server:
    """Serves `data` at /a.tar.gz with Range support; can cut the first N responses short."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.cut_after: int | None = None  # bytes to send before dropping the connection
        self.cuts_left = 0
        self.honour_range = True
        self.requests: list[str | None] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                if self.path != "/a.tar.gz":
                    self.send_error(404)
                    return
                rng = self.headers.get("Range")
                server.requests.append(rng)
                start = 0
                if rng and server.honour_range:
                    start = int(rng.removeprefix("bytes=").split("-")[0])
                    if start >= len(server.data):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(server.data) - 1}/*")
                else:
                    self.send_response(200)
                body = server.data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if server.cuts_left > 0 and server.cut_after is not None:
                    server.cuts_left -= 1
                    self.wfile.write(body[: server.cut_after])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/a.tar.gz"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server(make_tarball())
    yield srv
    srv.close()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_pinned_checksum_is_a_sha256() -> None:
    assert SPEECH_COMMANDS_SHA256 == (
        "af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58"
    )


def test_download_verifies_and_unpacks(server: Server, tmp_path: Path) -> None:
    dest = download(server.url, tmp_path / "a.tar.gz", sha(server.data), progress=False)
    assert dest.read_bytes() == server.data
    assert not (tmp_path / "a.tar.gz.part").exists()
    out = unpack(dest, tmp_path / "sc", progress=False)
    assert (out / "validation_list.txt").read_text() == "yes/0a7c2a8d_nohash_0.wav\n"
    assert (out / "yes" / "0a7c2a8d_nohash_0.wav").is_file()
    assert (out / "_background_noise_" / "white_noise.wav").is_file()
    # second run: verified file is reused, no request
    n = len(server.requests)
    download(server.url, dest, sha(server.data), progress=False)
    assert len(server.requests) == n


def test_resumes_with_range_after_a_cut(server: Server, tmp_path: Path) -> None:
    assert len(server.data) > 4000
    server.cut_after, server.cuts_left = 1000, 1
    dest = download(server.url, tmp_path / "a.tar.gz", sha(server.data), progress=False)
    assert dest.read_bytes() == server.data
    assert server.requests == [None, "bytes=1000-"]


def test_interrupted_run_keeps_part_and_next_run_resumes(server: Server, tmp_path: Path) -> None:
    server.cut_after, server.cuts_left = 700, 1
    dest = tmp_path / "a.tar.gz"
    with pytest.raises(DownloadError) as exc:
        download(server.url, dest, sha(server.data), retries=1, progress=False)
    part = tmp_path / "a.tar.gz.part"
    assert str(exc.value) == (
        f"{server.url}: connection lost after 700 of {len(server.data)} bytes"
        f" (kept {part}; run again to resume)"
    )
    assert part.read_bytes() == server.data[:700]
    assert not dest.exists()
    download(server.url, dest, sha(server.data), retries=1, progress=False)
    assert dest.read_bytes() == server.data
    assert server.requests == [None, "bytes=700-"]


def test_server_ignoring_range_restarts_cleanly(server: Server, tmp_path: Path) -> None:
    (tmp_path / "a.tar.gz.part").write_bytes(b"stale bytes from elsewhere")
    server.honour_range = False
    dest = download(server.url, tmp_path / "a.tar.gz", sha(server.data), progress=False)
    assert dest.read_bytes() == server.data


def test_complete_part_gets_416_and_is_used(server: Server, tmp_path: Path) -> None:
    (tmp_path / "a.tar.gz.part").write_bytes(server.data)
    dest = download(server.url, tmp_path / "a.tar.gz", sha(server.data), progress=False)
    assert dest.read_bytes() == server.data
    assert server.requests == [f"bytes={len(server.data)}-"]


def test_checksum_mismatch_deletes_and_fails(server: Server, tmp_path: Path) -> None:
    wrong = "0" * 64
    with pytest.raises(DownloadError) as exc:
        download(server.url, tmp_path / "a.tar.gz", wrong, progress=False)
    assert str(exc.value) == (
        f"{server.url}: sha256 {sha(server.data)} does not match the pinned {wrong}"
    )
    assert list(tmp_path.iterdir()) == []


def test_no_pin_fails_closed(server: Server, tmp_path: Path) -> None:
    with pytest.raises(DownloadError) as exc:
        download(server.url, tmp_path / "a.tar.gz", "", progress=False)
    assert str(exc.value) == (
        f"{server.url}: no valid sha256 pinned; refusing to download unverified data"
    )
    assert server.requests == []


def test_http_error(server: Server, tmp_path: Path) -> None:
    url = server.url.replace("a.tar.gz", "missing.tar.gz")
    with pytest.raises(DownloadError) as exc:
        download(url, tmp_path / "m.tar.gz", "0" * 64, retries=1, progress=False)
    assert str(exc.value) == (
        f"{url}: HTTP 404 Not Found (kept {tmp_path / 'm.tar.gz.part'}; run again to resume)"
    )


def test_unpack_rejects_corrupt_archive_and_keeps_old_tree(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(make_tarball()[:100])
    out = tmp_path / "sc"
    out.mkdir()
    (out / "keep.txt").write_text("old")
    with pytest.raises(DownloadError, match=r"bad\.tar\.gz: cannot unpack"):
        unpack(bad, out, progress=False)
    assert (out / "keep.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.tar.gz", "sc"]


def test_cli_end_to_end(server: Server, tmp_path: Path) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "ml.download", "--out", str(tmp_path / "sc"),
         "--cache", str(tmp_path / "cache"), "--url", server.url, "--sha256", sha(server.data)],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "sc" / "testing_list.txt").is_file()
    res = subprocess.run(
        [sys.executable, "-m", "ml.download", "--out", str(tmp_path / "sc2"),
         "--cache", str(tmp_path / "cache2"), "--url", server.url, "--sha256", "f" * 64],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert res.returncode == 1
    assert res.stderr.strip().splitlines()[-1] == (
        f"error: {server.url}: sha256 {sha(server.data)} does not match the pinned {'f' * 64}"
    )
    assert not (tmp_path / "sc2").exists()
