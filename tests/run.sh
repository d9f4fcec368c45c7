#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine or a developer's: installs what the tests
# need (Debian packages with apt-get when missing, the project with its test extras), then runs
# pytest. Usage: bash tests/run.sh [pytest arguments]
#
# Each install step is quiet when it works and stops the script with its whole output when it
# fails: a suite run on a half-installed machine would skip or fail for the wrong reason.
# With CUTOVER_REQUIRE_SERVERS=1 (set by .ci/run; the default when CI=true) the tests that need
# MariaDB, PostgreSQL, sshd or Chromium fail rather than skip when their server cannot start
# (tests/support/required.py).
set -euo pipefail
cd "$(dirname "$0")/.."

# quietly COMMAND...: run it with its output kept aside; on failure print that output and stop.
quietly() {
  local log status=0
  log="$(mktemp)"
  "$@" >"$log" 2>&1 || status=$?
  if [ "$status" -ne 0 ]; then
    echo "tests/run.sh: this install step failed (exit $status): $*" >&2
    cat "$log" >&2
    rm -f "$log"
    exit "$status"
  fi
  rm -f "$log"
}

DEBIAN_PACKAGES=(openssh-server openssh-client unixodbc odbc-mariadb odbc-postgresql tdsodbc
                 mariadb-server mariadb-client postgresql chromium chromium-driver poppler-utils redis-server)
missing=()
if command -v dpkg >/dev/null 2>&1; then
  for pkg in "${DEBIAN_PACKAGES[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  quietly $SUDO apt-get update -qq
  quietly $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

PYTHON="${PYTHON:-python3}"
quietly "$PYTHON" -m pip install -q --disable-pip-version-check -e '.[test]'
quietly "$PYTHON" -m pip show cutover

exec "$PYTHON" -m pytest -q -p no:cacheprovider "$@"
