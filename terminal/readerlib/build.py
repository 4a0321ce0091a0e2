"""Build ``libsscardreader.so`` and ``sscardreader.h`` (cffi embedding mode).

``python -m terminal.readerlib.build [--output DIR]`` (scripts/setup.sh runs it;
default ``DIR``: this interpreter's ``sys.prefix``/lib, i.e. ``.venv/lib``).

The shared object embeds this Python (it links ``libpython3.x.so`` with its
directory as run path) and, on the first call from any process, runs the init
code below: it puts the project and this environment's site-packages on
``sys.path`` (after ``PYTHONPATH``, so a checkout named there wins), then binds
the entry points (``terminal.readerlib.capi``). A C program, a JVM through JNA or
a Python process through ctypes can load it.
"""

from __future__ import annotations

import argparse
import shutil
import site
import sys
import sysconfig
import tempfile
from pathlib import Path

import cffi

from terminal.readerlib.abi import HEADER_NAME, LIBRARY_NAME, cdef, header_text

PROJECT = Path(__file__).resolve().parents[2]

INIT_CODE = """
import sys
for _path in {paths!r}:
    if _path not in sys.path:
        sys.path.append(_path)
from _sscardreader import ffi
from terminal.readerlib import capi
capi.bind(ffi)
"""


def default_output() -> Path:
    return Path(sys.prefix) / "lib"


def _paths(project: Path) -> list[str]:
    paths = [str(project)]
    for path in [*site.getsitepackages(), sysconfig.get_paths()["purelib"]]:
        if path not in paths:
            paths.append(path)
    return paths


def build(output: Path | None = None, project: Path = PROJECT) -> Path:
    """Compile the library into ``output`` (made if missing); the path of the ``.so``."""
    output = (output or default_output()).resolve()
    output.mkdir(parents=True, exist_ok=True)
    ffibuilder = cffi.FFI()
    ffibuilder.embedding_api(cdef())
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    ffibuilder.set_source(
        "_sscardreader",
        "",
        extra_link_args=[f"-Wl,-rpath,{libdir}"] if libdir else [],
    )
    ffibuilder.embedding_init_code(INIT_CODE.format(paths=_paths(project)))
    with tempfile.TemporaryDirectory(prefix="sscardreader-build-") as tmp:
        built = Path(ffibuilder.compile(tmpdir=tmp, target=LIBRARY_NAME, verbose=False))
        target = output / LIBRARY_NAME
        partial = output / f".{LIBRARY_NAME}.tmp"
        shutil.copyfile(built, partial)
        partial.chmod(0o755)
        partial.replace(target)  # a process that has the old one loaded keeps it
    (output / HEADER_NAME).write_text(header_text(), encoding="utf-8")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m terminal.readerlib.build",
        description=f"build {LIBRARY_NAME} and {HEADER_NAME} (the reader library HIS software loads)",
    )
    parser.add_argument("--output", type=Path, default=None, help="folder (default: .venv/lib)")
    args = parser.parse_args(argv)
    try:
        target = build(args.output)
    except (OSError, cffi.CDefError, cffi.VerificationError) as exc:  # one line, exit 1
        print(f"error: cannot build {LIBRARY_NAME}: {exc}", file=sys.stderr)
        return 1
    print(target)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
