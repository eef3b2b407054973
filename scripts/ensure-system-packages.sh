#!/usr/bin/env bash
# Install the Debian packages the tests and the reports need, when absent (idempotent, quiet when all are there):
#   chromium            the web UI's browser tests (Playwright drives it; never `playwright install`)
#   fonts-wqy-microhei  a CJK font: screenshots and the PDF reports (WeasyPrint embeds it)
#   libpango-1.0-0, libpangoft2-1.0-0   WeasyPrint's text layout (GET /v1/incidents/{id}/report.pdf)
#   poppler-utils       pdffonts/pdftotext/pdftoppm: the PDF report test checks fonts and text and makes a PNG
set -euo pipefail
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
for pkg in fonts-wqy-microhei libpango-1.0-0 libpangoft2-1.0-0 poppler-utils; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
echo "installing Debian packages for the tests: ${need[*]}" >&2
$SUDO apt-get install -y -q --no-install-recommends "${need[@]}" \
  || { $SUDO apt-get update -q && $SUDO apt-get install -y -q --no-install-recommends "${need[@]}"; }
