#!/usr/bin/env bash
# Install everything sscard needs on a Debian machine (run as root), idempotently:
# Debian packages (pcscd, vpcd, PC/SC headers, swig for pyscard, PostgreSQL,
# opensc/pcsc-tools for the interoperability tests, a JDK and JNA for the reader
# library's Java test) and a virtual environment in .venv with the project and its
# test tools installed; then the reader library HIS software loads,
# .venv/lib/libsscardreader.so with .venv/lib/sscardreader.h (docs/reader-library.md).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(pcscd vsmartcard-vpcd libpcsclite-dev swig postgresql opensc pcsc-tools
          python3-venv python3-dev gcc pkg-config default-jdk-headless libjna-java
          gettext chromium fonts-wqy-zenhei)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup: installing Debian packages: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # Debian starts a cluster and pcscd on install; the project starts its own when needed.
    (command -v systemctl >/dev/null && systemctl stop pcscd.socket pcscd.service postgresql) >/dev/null 2>&1 || true
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
stamp=.venv/.sscard-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "setup: installing the project into .venv (pyscard builds from source)" >&2
    .venv/bin/pip install -q --upgrade pip >/dev/null
    .venv/bin/pip install -q -e ".[pcsc,test]"
    touch "$stamp"
fi

# The reader library (cffi embedding over terminal/readerlib): rebuilt when missing or older
# than its sources, so a checkout's library always runs the checkout's code.
library=.venv/lib/libsscardreader.so
if [ ! -f "$library" ] || [ -n "$(find terminal/readerlib -name '*.py' -newer "$library" -print -quit)" ]; then
    echo "setup: building $library" >&2
    .venv/bin/python -m terminal.readerlib.build --output .venv/lib >/dev/null
fi
