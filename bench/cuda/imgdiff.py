#!/usr/bin/env python3
"""imgdiff.py — mean and max absolute 8-bit difference of two pictures (bench helper, never run
by the product): PNG (8-bit greyscale/RGB/RGBA, not interlaced; what `oma generate` writes) or
binary PPM (what bench_generate's OMA_BENCH_OUT writes). Standard library only (zlib), so it
runs on the lent GPU machine's python as is.

  imgdiff.py A B [--mean M] [--max X]   prints "mean D max E of 255 (W x H x C)" and, with
                                        bounds, PASS/FAIL (exit 0/1); exit 2 on unreadable input
"""
import struct
import sys
import zlib


def read_ppm(data):
    parts, pos = [], 2
    while len(parts) < 3:                      # width, height, maxval (no comments from us)
        while data[pos:pos + 1].isspace():
            pos += 1
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        parts.append(int(data[pos:end]))
        pos = end
    w, h, mx = parts
    if mx != 255:
        raise ValueError("PPM maxval must be 255")
    px = data[pos + 1:pos + 1 + w * h * 3]
    if len(px) != w * h * 3:
        raise ValueError("PPM too short")
    return w, h, 3, px


def read_png(data):
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, hdr = 8, [], None
    while pos + 8 <= len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + n
    if hdr is None:
        raise ValueError("PNG without IHDR")
    w, h, depth, ctype, _, _, interlace = hdr
    chans = {0: 1, 2: 3, 6: 4}.get(ctype)
    if depth != 8 or chans is None or interlace:
        raise ValueError("PNG kind not handled (8-bit grey/RGB/RGBA, not interlaced only)")
    raw = zlib.decompress(b"".join(idat))
    stride = w * chans
    out = bytearray(h * stride)
    prev = bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - chans] if i >= chans else 0
            b = prev[i]
            c = prev[i - chans] if i >= chans else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out[y * stride:(y + 1) * stride] = line
        prev = line
    return w, h, chans, bytes(out)


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    return read_ppm(data) if data[:2] == b"P6" else read_png(data)


def main():
    args = sys.argv[1:]
    bounds = {}
    for flag in ("--mean", "--max"):
        if flag in args:
            i = args.index(flag)
            bounds[flag] = float(args[i + 1])
            del args[i:i + 2]
    if len(args) != 2:
        sys.exit(__doc__)
    try:
        a, b = read(args[0]), read(args[1])
    except (OSError, ValueError, zlib.error) as e:
        print(f"imgdiff: {e}")
        sys.exit(2)
    if a[:3] != b[:3]:
        print(f"imgdiff: sizes differ: {a[:3]} vs {b[:3]}")
        sys.exit(1)
    diffs = [abs(x - y) for x, y in zip(a[3], b[3])]
    mean, mx = sum(diffs) / len(diffs), max(diffs)
    ok = mean <= bounds.get("--mean", float("inf")) and mx <= bounds.get("--max", float("inf"))
    verdict = "" if not bounds else (" PASS" if ok else " FAIL") + f" (bounds: mean <= {bounds.get('--mean', 'any')}, max <= {bounds.get('--max', 'any')})"
    print(f"mean {mean:.3f} max {mx} of 255 ({a[0]} x {a[1]} x {a[2]}){verdict}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
