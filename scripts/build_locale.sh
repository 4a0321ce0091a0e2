#!/usr/bin/env bash
# Compile the terminal's gettext catalogues (terminal/locale/*/LC_MESSAGES/sscard.po -> .mo).
# The .mo files are shipped as package data beside their .po; tests/terminal/test_i18n.py
# fails when a .mo is older than its .po. Needs msgfmt (Debian package gettext).
set -euo pipefail
cd "$(dirname "$0")/.."
for po in terminal/locale/*/LC_MESSAGES/*.po; do
    msgfmt --check-format -o "${po%.po}.mo" "$po"
done
