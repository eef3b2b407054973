#!/usr/bin/env bash
# Install Debian's Chromium (and a CJK font for the screenshots) when /usr/bin/chromium is absent: the web UI's
# browser tests (tests/integration/test_ui_browser.py) drive it through Playwright, never `playwright install`.
set -euo pipefail
[ -x /usr/bin/chromium ] && exit 0
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
echo "installing Debian chromium for the browser tests" >&2
$SUDO apt-get install -y -q --no-install-recommends chromium fonts-wqy-microhei \
  || { $SUDO apt-get update -q && $SUDO apt-get install -y -q --no-install-recommends chromium fonts-wqy-microhei; }
