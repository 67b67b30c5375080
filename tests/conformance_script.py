"""The inputs of the protocol conformance test: PROTOCOL.md's "Errors" and "MLPerf errors"
tables, the edges around them, and safe mode's. Each case is (name, bytes to send, m-ready
lines it ends with, seconds to wait before reading)."""

from __future__ import annotations

from tests.conformance import crc


def script(n: int, clip_bytes: int) -> list[tuple[str, bytes, int, float]]:
    """(case, bytes to send, m-ready lines it ends with, seconds to wait before reading)."""
    x = bytes(range(256)) * (n // 256 + 1)
    x = x[:n]  # contains '\n', '%' and NUL: nothing in a payload is interpreted
    zeros = bytes(n)
    pcm = b"\x00\x10\x00\xf0"  # two int16 samples: 4096, -4096
    ours = [
        ("unknown command", b"bogus arg\n"),
        ("unknown command, long", b"averyveryverylongcommandname\n"),
        ("commands are lowercase", b"ID\n"),
        ("line too long", b"x" * 129 + b"\n"),
        ("line too long, rest discarded", b"y" * 300 + b" id\n"),
        ("128 bytes + CR is a line", b"z" * 128 + b"\r\n"),
        ("CR as 129th byte, then more", b"z" * 128 + b"\rq\n"),
        ("CR as 129th and 130th byte", b"z" * 128 + b"\r\r\n"),
        ("16-byte command", b"abcdefghijklmnop\n"),
        ("too long beats bad char", b"\xff" * 130 + b"\n"),
        ("bad char", b"id\x01\n"),
        ("NUL is a bad char", b"\x00\n"),
        ("CR inside a line", b"id\rx\n"),
        ("two CRs", b"id\r\r\n"),
        ("empty lines are ignored", b"\n   \n\r\n%  %id\n"),
        ("spaces between tokens", b"  bench   2  1  \n"),
        ("id with args", b"id extra\n"),
        ("stats with args", b"stats x\n"),
        ("reset with args", b"reset now\n"),
        ("labels with args", b"labels x\n"),
        ("labels", b"labels\n"),
        ("infer, one arg", b"infer 12\n"),
        ("infer, four args", b"infer 1 00000000 x\n"),
        ("infer, negative length", b"infer -1 00000000\n"),
        ("infer, hex length", b"infer 0x10 00000000\n"),
        ("infer, 10-digit length", b"infer 0000001960 00000000\n"),
        ("infer, short crc", b"infer 1960 xyz\n"),
        ("infer, 9-digit crc", b"infer 1960 123456789\n"),
        ("infer, non-hex crc", b"infer 1960 0000000g\n"),
        ("infer, wrong length", b"infer 5 00000000\n"),
        ("infer, zero length", b"infer 0 00000000\n"),
        ("audio, odd length", b"audio 3 00000000\n"),
        ("audio, zero length", b"audio 0 00000000\n"),
        ("features, too long", f"features {clip_bytes + 2} 00000000\n".encode()),
        ("audio, bad args", b"audio 4\n"),
        ("infer, crc mismatch", f"infer {n} 00000000\n".encode() + zeros),
        ("audio, crc mismatch", b"audio 4 00000000\n\x01\x02\x03\x04"),
        ("infer, uppercase crc", f"infer {n} {crc(x).upper()}\n".encode() + x),
        ("features", f"features 4 {crc(b'1234')}\n1234".encode()),
        ("audio", f"audio 4 {crc(pcm)}\n".encode() + pcm),
        ("an MLPerf command with \\n", b"name\n"),
        ("db with \\n", b"db load 4\n"),
        ("bench 0", b"bench 0 1\n"),
        ("bench warmup 101", b"bench 1 101\n"),
        ("bench 1001", b"bench 1001 0\n"),
        ("bench one arg", b"bench 1\n"),
        ("bench non-decimal", b"bench a 1\n"),
        ("bench negative", b"bench -1 1\n"),
        ("bench", b"bench 2 0\n"),
        ("listen bad arg", b"listen maybe\n"),
        ("listen no arg", b"listen\n"),
        ("listen on, no microphone", b"listen on\n"),
        ("listen off", b"listen off\n"),
        ("tab is a bad char", b"id\t\n"),
        ("leading zeros in length", f"infer {n:09d} {crc(x)}\n".encode() + x),
        ("plus sign in length", b"infer +1960 00000000\n"),
        ("bench leading zeros", b"bench 02 000\n"),
        ("bench plus sign", b"bench +1 0\n"),
        ("bench 10 digits", b"bench 0000000001 0\n"),
        ("command glued to args", b"infer1960 00000000\n"),
        ("features, crc mismatch", b"features 2 00000000\nab"),
        ("clipband, off after boot", b"clipband\n"),
        ("clip, none held", b"clip\n"),
        ("clip, extra arg", b"clip 1\n"),
        ("clipband on", b"clipband -20 -0\n"),
        ("clipband lo > hi", b"clipband 5 4\n"),
        ("clipband below int8", b"clipband -129 0\n"),
        ("clipband 4 digits", b"clipband 0001 2\n"),
        ("clipband plus sign", b"clipband +1 2\n"),
        ("clipband one number", b"clipband 3\n"),
        ("clipband three numbers", b"clipband 1 2 3\n"),
        ("clipband unchanged", b"clipband\n"),
        ("clipband off", b"clipband off\n"),
    ]
    mlperf = [
        ("unknown", b"bogus%"),
        ("unknown, long", b"averyveryverylongcommandname%"),
        ("uppercase", b"NAME%"),
        ("line too long", b"d" * 200 + b"%"),
        ("bad char", b"name\x7f%"),
        ("too long, then %", b"y" * 300 + b"%"),
        ("128 bytes + CR then %", b"w" * 128 + b"\r%"),
        ("lone CR then %", b"\r%  %name%"),
        ("command glued", b"name1%"),
        ("our command with %", b"id%"),
        ("our payload command with %", b"features 4 00000000%"),
        ("trailing spaces", b"name   %"),
        ("name", b"name%"),
        ("profile", b"profile%"),
        ("timestamp", b"timestamp%"),
        ("results", b"results%"),
        ("name, too many args", b"name x%"),
        ("profile, too many args", b"profile x%"),
        ("timestamp, too many args", b"timestamp x%"),
        ("results, too many args", b"results x%"),
        ("db", b"db%"),
        ("db load", b"db load%"),
        ("db load 0", b"db load 0%"),
        ("db load abc", b"db load abc%"),
        ("db load -1", b"db load -1%"),
        ("db load, 10 digits", b"db load 1234567890%"),
        ("db load, over max", b"db load 99999%"),
        ("db load, 9 digits over max", b"db load 999999999%"),
        ("db load +4", b"db load +4%"),
        ("db loads", b"db loads 4%"),
        ("db load, too many args", b"db load 4 5%"),
        ("db without load", b"db 00%"),
        ("infer 0", b"infer 0%"),
        ("infer -1", b"infer -1%"),
        ("infer x", b"infer x%"),
        ("infer, warmup -1", b"infer 1 -1%"),
        ("infer, warmup x", b"infer 1 x%"),
        ("infer 100001", b"infer 100001%"),
        ("infer, warmup 10001", b"infer 1 10001%"),
        ("infer, too many args", b"infer 1 2 3%"),
        ("infer without db", b"infer 1 0%"),
        ("db load 4", b"db load 4%"),
        ("db, odd digits", b"db 123%"),
        ("db, bad hex", b"db 12zz%"),
        ("db, bad hex and odd", b"db 123z%"),
        ("db, bad hex first", b"db g1%"),
        ("db, two hex args", b"db 12 34%"),
        ("db, non-ASCII", b"db 12\x80%"),
        ("infer, db incomplete", b"infer 1 0%"),
        ("db, completes", b"db 345678aa%"),
        ("db after done", b"db 00%"),
        ("infer, db wrong size", b"infer 1 0%"),
        ("db load restarts", b"db load 4%"),
        ("db, 125 digits", b"db " + b"a" * 125 + b"%"),
        ("db, 124 digits", b"db " + b"b" * 124 + b"%"),
        ("db load full", f"db load {n}%".encode()),
        *(
            (f"db chunk {i // 62}", f"db {x.hex()[i : i + 62]}%".encode())
            for i in range(0, 2 * n, 62)
        ),
        ("infer", b"infer 2 1%"),
        ("infer, defaults", b"infer%"),
        ("infer, long zero-padded N", b"infer 000000000001 000000000000%"),
        ("infer, huge N", b"infer 99999999999999999999%"),
        ("infer +1", b"infer +1%"),
        ("infer, N only", b"infer 1%"),
        ("results, after infer", b"results%"),
    ]
    # two lines each: wait for both answers (the second is late on a pty or a loaded machine)
    two = {"CR as 129th byte, then more", "CR inside a line"}
    cases = [(f"ours: {c}", b, 1 + (c in two), 0.0) for c, b in ours]
    # the framer answers at the 129th byte / at the terminator, not later or earlier
    cases.append(("ours: too long, before any terminator", b"x" * 129, 1, 0.0))
    cases.append(("ours: its terminator is discarded", b"abc\nid\n", 1, 0.0))
    cases.append(("ours: a lone CR ends a 128-byte line", b"v" * 128 + b"\r", 1, 0.0))
    cases.append(("ours: the LF of its CRLF is no line", b"\n", 0, 0.2))
    cases.append(("ours: help, CR-terminated", b"help\r", 1, 0.0))
    cases.append(("ours: bad char waits for the terminator", b"id\x02", 0, 0.2))
    cases.append(("ours: then the terminator ", b"%", 1, 0.0))
    head = f"infer {n} {crc(x)}\n".encode()
    cases.append(("ours: payload gap under 500 ms", head + x[:100], 0, 0.3))
    cases.append(("ours: payload rest", x[100:], 1, 0.0))
    cases.append(("ours: timeout", head + x[:10], 1, 0.7))
    cases.append(("ours: gap after 100 bytes", head + x[:100], 1, 0.7))
    cases.append(("ours: late bytes are a command line", b"id\n", 1, 0.0))
    cases.append(("ours: timeout, no byte", b"audio 4 00000000\n", 1, 0.7))
    cases += [(f"mlperf: {c}", b, 1, 0.0) for c, b in mlperf]
    discard = f"infer {n} {crc(x)}\n".encode() + x + b"infer 1 0%"
    cases.append(("mlperf: a payload discards db", discard, 2, 0.0))
    cases.append(("stats", b"stats\n", 1, 0.0))
    cases.append(("reset", b"reset\n", 2, 0.0))  # m-reset, m-ready, banner, m-ready
    cases.append(("stats after reset", b"stats\n", 1, 0.0))
    return cases


def safe_mode_script(n: int) -> list[tuple[str, bytes, int, float]]:
    """Safe mode (PROTOCOL.md "Boot"): id, stats, reset and MLPerf name/profile/timestamp
    work; everything else is e-not-ready without reading a payload."""
    ours = [
        ("labels", b"labels\n"),
        ("infer reads no payload", b"infer 3 00000000\nid\n"),
        ("infer, bad args", b"infer\n"),
        ("infer, wrong length", b"infer 5 00000000\n"),
        ("audio", b"audio 4 00000000\n"),
        ("features", b"features 4 00000000\n"),
        ("bench", b"bench 1 0\n"),
        ("bench, bad args", b"bench 0 0\n"),
        ("listen", b"listen on\n"),
        ("listen, bad args", b"listen x\n"),
        ("unknown", b"bogus\n"),
        ("id, bad args", b"id x\n"),
        ("bad char", b"id\x01\n"),
        ("line too long", b"x" * 129 + b"\n"),
        ("id", b"id\n"),
    ]
    mlperf = [
        ("name", b"name%"),
        ("profile", b"profile%"),
        ("timestamp", b"timestamp%"),
        ("name, too many args", b"name x%"),
        ("db load", f"db load {n}%".encode()),
        ("db", b"db%"),
        ("db hex", b"db 00%"),
        ("infer", b"infer 1 0%"),
        ("infer, bad args", b"infer 0%"),
        ("results", b"results%"),
        ("unknown", b"bogus%"),
    ]
    cases = [(f"ours: {c}", b, 1 + (c == "infer reads no payload"), 0.0) for c, b in ours]
    cases += [(f"mlperf: {c}", b, 1, 0.0) for c, b in mlperf]
    cases.append(("stats", b"stats\n", 1, 0.0))
    cases.append(("reset", b"reset\n", 2, 0.0))
    cases.append(("stats after reset", b"stats\n", 1, 0.0))
    return cases
