#!/usr/bin/env bash
# Make PostgreSQL's server binaries available for the integration tier (tests/e2e/test_postgres.py),
# which starts its own throw-away cluster with them: nothing here starts or configures a server.
# Found on PATH or in /usr/lib/postgresql/*/bin: nothing to do. Otherwise, as root with apt-get
# (CI: Debian), install the distribution's postgresql package (PostgreSQL 15 on Debian 12).
# Anywhere else, say how to get it; the tier then skips and says why (fails under QSPEC_REQUIRE_POSTGRES=1).
set -euo pipefail

found() {
  command -v initdb >/dev/null 2>&1 && return 0
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && return 0
  done
  return 1
}

if found; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-postgres: installing postgresql with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  found && exit 0
  echo "ensure-postgres: postgresql was installed but initdb is still not found" >&2
  exit 1
fi
echo "ensure-postgres: PostgreSQL is not installed and cannot be installed here (needs root and apt-get);" \
     "install it (e.g. apt-get install postgresql, brew install postgresql@15) to run the PostgreSQL tier" >&2
