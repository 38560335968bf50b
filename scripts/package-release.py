#!/usr/bin/env python3
"""Packs a built luau-exec binary as the release asset that rokit, aftman and foreman install.

Those tools pick a GitHub Release asset by its name, `<tool>-<version>-<os>-<arch>.zip`, and
expect the zip to hold the binary alone at its root. This script is the one place that layout is
written; the release workflow calls it on every platform (Python's standard library only, so it
runs as it is on Linux, macOS and Windows runners), and the test suite checks what it makes.

    python3 scripts/package-release.py BINARY VERSION OS ARCH [OUTDIR]

OS is linux, macos or windows; ARCH is x86_64 or aarch64. Prints the archive's path.
"""

import os
import re
import stat
import sys
import zipfile

TOOL = "luau-exec"
OPERATING_SYSTEMS = ("linux", "macos", "windows")
ARCHITECTURES = ("x86_64", "aarch64")
# A fixed timestamp keeps the archive the same bytes for the same binary (zip cannot say 1970).
FIXED_TIME = (2000, 1, 1, 0, 0, 0)


def fail(message):
    print(f"package-release: {message}", file=sys.stderr)
    sys.exit(2)


def asset_name(version, os_name, arch):
    return f"{TOOL}-{version}-{os_name}-{arch}.zip"


def package(binary, version, os_name, arch, outdir):
    if not re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?", version):
        fail(f"version `{version}` is not X.Y.Z")
    if os_name not in OPERATING_SYSTEMS:
        fail(f"os `{os_name}` is not one of {', '.join(OPERATING_SYSTEMS)}")
    if arch not in ARCHITECTURES:
        fail(f"arch `{arch}` is not one of {', '.join(ARCHITECTURES)}")
    if not os.path.isfile(binary):
        fail(f"binary `{binary}` is not a file")

    member = TOOL + (".exe" if os_name == "windows" else "")
    os.makedirs(outdir, exist_ok=True)
    archive = os.path.join(outdir, asset_name(version, os_name, arch))
    entry = zipfile.ZipInfo(member, date_time=FIXED_TIME)
    entry.compress_type = zipfile.ZIP_DEFLATED
    # Unix permissions travel in the high bits of external_attr; rokit and aftman keep them, so
    # the installed binary is executable without a chmod.
    entry.create_system = 3
    entry.external_attr = (stat.S_IFREG | 0o755) << 16
    with open(binary, "rb") as source:
        contents = source.read()
    partial = archive + ".partial"
    with zipfile.ZipFile(partial, "w") as out:
        out.writestr(entry, contents)
    os.replace(partial, archive)
    return archive


def main(argv):
    if len(argv) not in (5, 6):
        fail("usage: package-release.py BINARY VERSION OS ARCH [OUTDIR]")
    outdir = argv[5] if len(argv) == 6 else "dist"
    print(package(argv[1], argv[2], argv[3], argv[4], outdir))


if __name__ == "__main__":
    main(sys.argv)
