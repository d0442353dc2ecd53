#!/usr/bin/env bash
# Make sure the PostgreSQL server at 127.0.0.1:5432 (trust auth, database `test`) answers.
# Tests that need it fail (not skip) when it is unreachable, so this starts it if it is down.
set -euo pipefail
ready() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
if ! command -v pg_isready >/dev/null 2>&1; then
  echo "ensure-postgres: installing the PostgreSQL client/server from Debian" >&2
  (apt-get update -qq && apt-get install -y -qq postgresql >/dev/null) || true
fi
if ! ready; then
  echo "ensure-postgres: starting PostgreSQL" >&2
  cluster="$(ls /etc/postgresql 2>/dev/null | head -n1 || true)"
  if [ -n "$cluster" ]; then
    pg_ctlcluster --skip-systemctl-redirect "$cluster" main start || true
  fi
  for _ in $(seq 1 30); do ready && break; sleep 1; done
fi
ready || { echo "ensure-postgres: PostgreSQL at 127.0.0.1:5432 is not reachable" >&2; exit 1; }
