#!/usr/bin/env bash
# pg_cluster.sh — a throw-away PostgreSQL cluster for tests and benches (the shell twin of
# tests/unit/server/db_harness.h).
#   pg_cluster.sh start DIR   : initdb + pg_ctl start in DIR on a free localhost port (fsync off;
#                               as user "postgres" when run as root), TCP logins by password
#                               (scram-sha-256, user oma, password oma-test-pw), creates database
#                               "oma", prints its URL postgres://oma:oma-test-pw@127.0.0.1:PORT/oma
#   pg_cluster.sh stop DIR    : stops it (immediate) and removes DIR
# Exit 77 when PostgreSQL is not installed (callers report SKIP).
set -euo pipefail
cmd=${1:?start|stop}; dir=${2:?DIR}
bin=${OMA_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "SKIP: PostgreSQL is not installed (scripts/install-deps.sh test installs it)" >&2
  exit 77
fi
runas=()
[ "$(id -u)" = 0 ] && runas=(runuser -u postgres --)
case $cmd in
  start)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
           node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
    echo oma-test-pw >"$dir/pw"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir/pw"
    "${runas[@]}" "$bin/initdb" -D "$dir/data" --auth-local=trust --auth-host=scram-sha-256 --pwfile="$dir/pw" \
      -U oma -E UTF8 --no-sync >"$dir/initdb.log" 2>&1
    # in postgresql.conf (not -o) so a plain `pg_ctl start` after a stop comes back the same
    cat >>"$dir/data/postgresql.conf" <<CONF
port = $port
unix_socket_directories = '$dir'
listen_addresses = '127.0.0.1'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 300
CONF
    "${runas[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null
    PGPASSWORD=oma-test-pw "$bin/createdb" -h 127.0.0.1 -p "$port" -U oma oma
    echo "postgres://oma:oma-test-pw@127.0.0.1:$port/oma"
    ;;
  stop)
    "${runas[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
  *) echo "usage: pg_cluster.sh start|stop DIR" >&2; exit 2 ;;
esac
