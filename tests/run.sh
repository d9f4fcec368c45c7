#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine or a developer's: installs what the tests
# need (Debian packages with apt-get when missing, the project with its test extras), then runs
# pytest. Usage: bash tests/run.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(openssh-server openssh-client unixodbc odbc-mariadb odbc-postgresql tdsodbc
                 mariadb-server mariadb-client postgresql chromium chromium-driver redis-server)
missing=()
if command -v dpkg >/dev/null 2>&1; then
  for pkg in "${DEBIAN_PACKAGES[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON="${PYTHON:-python3}"
"$PYTHON" -m pip install -q --disable-pip-version-check -e '.[test]' 2>&1 | grep -v -E '^(WARNING|\[notice\])' || true
"$PYTHON" -m pip show cutover >/dev/null

exec "$PYTHON" -m pytest -q -p no:cacheprovider "$@"
