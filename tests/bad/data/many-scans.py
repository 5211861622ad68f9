#!/usr/bin/env python3
"""many-scans.py: writes many-scans.jpg, a valid 8x8 gray progressive JPEG of 704 scans.

Every DC and AC bit plane is a scan of its own. cjpeg takes at most 100 scans per script,
so the file is spliced from several cjpeg runs whose scripts share the first DC scan: a
scan's bytes depend only on the coefficients and its own parameters. Needs cjpeg
(libjpeg-turbo-progs). cnnf refuses more than 500 scans; djpeg decodes the file.
"""
import subprocess
import sys


def scans(b, i):
    """The scans of JPEG b from offset i, each with the tables written before its SOS."""
    out, cur = [], b""
    while b[i + 1] != 0xD9:
        marker, length = b[i + 1], b[i + 2] << 8 | b[i + 3]
        seg, i = b[i : i + 2 + length], i + 2 + length
        if marker == 0xDA:
            j = i
            while not (b[j] == 0xFF and b[j + 1] != 0 and not 0xD0 <= b[j + 1] <= 0xD7):
                j += 1
            out.append(cur + seg + b[i:j])
            cur, i = b"", j
        else:
            cur += seg
    return out


def header_end(b):
    """Offset of the first DHT or SOS: what comes before is the file's header."""
    i = 2
    while b[i + 1] not in (0xC4, 0xDA):
        i += 2 + (b[i + 2] << 8 | b[i + 3])
    return i


def main():
    pgm = b"P5\n8 8\n255\n" + bytes((i * 37) % 256 for i in range(64))
    dc = ["0: 0 0 0 10;"]
    dc_refine = [f"0: 0 0 {ah} {ah - 1};" for ah in range(10, 0, -1)]

    def band(k):
        return [f"0: {k} {k} 0 10;"] + [f"0: {k} {k} {ah} {ah - 1};" for ah in range(10, 0, -1)]

    groups = [list(range(1, 9))] + [list(range(k, min(k + 9, 64))) for k in range(9, 64, 9)]
    header, parts = None, []
    for n, group in enumerate(groups):
        script = dc + (dc_refine if n == 0 else []) + sum((band(k) for k in group), [])
        with open("scans.tmp", "w") as f:
            f.write("\n".join(script) + "\n")
        jpg = subprocess.run(["cjpeg", "-scans", "scans.tmp", "-grayscale"], input=pgm,
                             capture_output=True, check=True).stdout
        h = header_end(jpg)
        assert header is None or jpg[:h] == header
        header = jpg[:h]
        got = scans(jpg, h)
        assert len(got) == len(script)
        parts += got if n == 0 else got[1:]
    with open(sys.argv[1] if len(sys.argv) > 1 else "many-scans.jpg", "wb") as f:
        f.write(header + b"".join(parts) + b"\xff\xd9")
    print(len(parts), "scans")


main()
