"""Download and unpack the real Speech Commands v0.02 (the `make data-speech-commands` target).

    python -m ml.download --out data/speech_commands [--cache build/downloads]

The archive (2.4 GB) is fetched into `<cache>/<name>.part`, resuming with an HTTP Range
request after an interruption, verified against a pinned sha256, then unpacked in its
native layout (word directories, `_background_noise_`, the list files) and swapped into
place, so `--out` is either the old tree or the complete new one.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import logging
import re
import shutil
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from ml.errors import KwsError, run_main

log = logging.getLogger(__name__)

SPEECH_COMMANDS_URL = "http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz"
# Published sha256 of speech_commands_v0.02.tar.gz (2,428,923,189 bytes): torchaudio's
# SPEECHCOMMANDS _CHECKSUMS and TensorFlow Datasets' speech_commands/checksums.tsv agree.
SPEECH_COMMANDS_SHA256 = "af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58"
CHUNK = 1 << 20


class DownloadError(KwsError):
    """The download failed, was cut short or does not match its checksum."""


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def _fetch_once(url: str, part: Path, timeout: float, progress: bool) -> None:
    """Append the rest of `url` to `part` (Range from its current size); raise on a cut."""
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # asked past the end: the .part is already complete
            return
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(f"{url}: cannot connect ({reason})") from None
    with resp:
        if have and resp.status == 206:
            m = re.match(r"bytes (\d+)-", resp.headers.get("Content-Range", ""))
            if not m or int(m.group(1)) != have:
                raise DownloadError(f"{url}: server resumed at the wrong offset")
            mode = "ab"
        else:  # 200: the server ignored Range, start over
            have, mode = 0, "wb"
        length = resp.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        bar = tqdm(
            total=total,
            initial=have,
            unit="B",
            unit_scale=True,
            desc=part.name,
            disable=None if progress else True,
        )
        got = have
        with part.open(mode) as f, bar:
            while True:
                try:
                    block = resp.read(CHUNK)
                except (
                    OSError,
                    ValueError,
                    http.client.HTTPException,
                ) as exc:  # cut, reset, timeout
                    raise DownloadError(
                        f"{url}: connection lost after {got} bytes ({exc})"
                    ) from None
                if not block:
                    break
                f.write(block)
                got += len(block)
                bar.update(len(block))
        if total is not None and got < total:
            raise DownloadError(f"{url}: connection lost after {got} of {total} bytes")


def download(
    url: str,
    dest: Path,
    sha256: str,
    *,
    retries: int = 3,
    timeout: float = 60.0,
    progress: bool = True,
) -> Path:
    """Fetch `url` to `dest` (resumable via `dest.part`), verified against `sha256`."""
    if not re.fullmatch(r"[0-9a-f]{64}", sha256 or ""):
        raise DownloadError(f"{url}: no valid sha256 pinned; refusing to download unverified data")
    if dest.is_file() and sha256_of(dest) == sha256:
        log.info("%s: already downloaded and verified", dest)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    for attempt in range(1, retries + 1):
        try:
            _fetch_once(url, part, timeout, progress)
            break
        except DownloadError as exc:
            if attempt == retries:
                raise DownloadError(f"{exc} (kept {part}; run again to resume)") from None
            log.warning("%s; resuming (attempt %d of %d)", exc, attempt + 1, retries)
    got = sha256_of(part)
    if got != sha256:
        part.unlink()
        raise DownloadError(f"{url}: sha256 {got} does not match the pinned {sha256}")
    part.replace(dest)
    return dest


def unpack(archive: Path, out: Path, progress: bool = True) -> Path:
    """Extract a .tar.gz into `out`, swapped in only when extraction succeeded."""
    tmp = out.parent / f".{out.name}.partial"
    old = out.parent / f".{out.name}.old"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for m in tqdm(
                members,
                desc=f"unpack {archive.name}",
                unit="file",
                disable=None if progress else True,
            ):
                tar.extract(m, tmp, filter="data")  # rejects absolute paths, .., devices
    except (tarfile.TarError, OSError, EOFError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DownloadError(f"{archive}: cannot unpack ({exc})") from None
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        out.rename(old)
    tmp.rename(out)
    shutil.rmtree(old, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ml.download", description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="dataset directory to (re)create")
    ap.add_argument("--cache", type=Path, default=Path("build/downloads"), help="archive dir")
    ap.add_argument("--url", default=SPEECH_COMMANDS_URL)
    ap.add_argument("--sha256", default=SPEECH_COMMANDS_SHA256, help="expected archive sha256")
    args = ap.parse_args(argv)
    archive = download(args.url, args.cache / Path(args.url).name, args.sha256.lower())
    unpack(archive, args.out)
    log.info("unpacked %s into %s", archive, args.out)
    return 0


if __name__ == "__main__":
    run_main(main)
