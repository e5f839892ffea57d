#!/usr/bin/env bash
# Runs a command with BYP_TEST_PG_URL pointing at a PostgreSQL server. When the variable
# is already set, the command runs as is; otherwise a throwaway PostgreSQL 15 cluster is
# created in a temporary directory (initdb and pg_ctl as the postgres user, fsync off)
# and removed afterwards.
set -euo pipefail

if [[ -n "${BYP_TEST_PG_URL:-}" ]]; then
  exec "$@"
fi

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [[ -z "$bindir" ]]; then
  echo "with-postgres: PostgreSQL is not installed (apt-get install postgresql-15)" >&2
  exit 1
fi

run_pg() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

dir=$(mktemp -d /tmp/byp-pg.XXXXXX)
chmod 755 "$dir"
[[ $(id -u) -eq 0 ]] && chown postgres: "$dir"
port=$(( 20000 + RANDOM % 20000 ))

cleanup() {
  run_pg "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT

run_pg "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 \
  || { cat "$dir/initdb.log" >&2; exit 1; }
run_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
  -o "-F -p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300 \
      -c synchronous_commit=off -c full_page_writes=off" >/dev/null \
  || { cat "$dir/server.log" >&2; exit 1; }

export BYP_TEST_PG_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
"$@"
