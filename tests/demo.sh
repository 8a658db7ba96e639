#!/bin/bash
# tests/demo.sh: the body of "make demo".
#
# Usage: tests/demo.sh SRCDIR
#
# A throwaway source cluster with sample data, the extension, a replication
# role made by grant_script, streams tracked, and what the DBA would look at:
# the privilege audit, the standby check and the streams.  Expects pgpull
# installed (the Makefile does that first).  As root it runs as the
# unprivileged "postgres" account, since initdb refuses root.  Everything it
# starts it stops, and it removes its directory at the end.
set -eu

SRC=$1

. "$(dirname "$0")/runner.sh"
reexec_unprivileged pgpull-demo "$SRC" tests/demo.sh

work=${PGPULL_WORK:-$(mktemp -d /tmp/pgpull-demo.XXXXXX)}
bindir=$(pg_config --bindir)
export PATH="$bindir:$PATH"
unset PGHOST PGPORT PGDATABASE PGUSER PGSERVICE PGOPTIONS
export PGHOST="$work" PGPORT=5432 PGDATABASE=shop

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
psql_demo() { psql -X -v ON_ERROR_STOP=1 -q "$@"; }

say "a throwaway source cluster in $work"
initdb -D "$work/data" -A trust --no-locale -E UTF8 --no-sync >"$work/initdb.log"
pg_ctl -D "$work/data" -l "$work/server.log" -w -s \
	-o "-c listen_addresses='' -k $work -p 5432" start
trap 'pg_ctl -D "$work/data" -m fast -w -s stop' EXIT
createdb -h "$work" shop

say "sample data: two schemas, an application owner, awkward types"
psql_demo -f "$SRC/tests/fixtures/demo_data.sql"
psql_demo -c '\dt+ (public|sales).*'

say "CREATE EXTENSION pgpull"
psql_demo -c 'CREATE EXTENSION pgpull' -c '\dx pgpull'

say "the grant script for the replication role (psql \\gexec runs it)"
psql_demo -At -c "SELECT pgpull.grant_script('pgpull_repl', '{public,sales}')"
echo "SELECT pgpull.grant_script('pgpull_repl', '{public,sales}') \gexec" | psql_demo >/dev/null
psql_demo -c "ALTER ROLE pgpull_repl PASSWORD NULL"

say "streams tracked: key-based and full-table, a view"
psql_demo -c "SELECT pgpull.track('public.customers', 'key_based', 'updated_at'),
       pgpull.track('sales.orders', 'key_based', 'updated_at'),
       pgpull.track('sales.order_lines', 'full_table'),
       pgpull.track('public.events', 'key_based', 'happened_at'),
       pgpull.track('sales.big_spenders', 'full_table', key_columns => '{customer_id}')" \
	-c "SELECT integration, relation, method, replication_key, key_columns, destination_table
	      FROM pgpull.streams ORDER BY destination_table COLLATE \"C\""

say "the privilege audit: every required privilege and every hazard"
psql_demo -c "SELECT kind, object_type, count(*) AS checked, count(*) FILTER (WHERE ok) AS ok
                FROM pgpull.check_privileges('pgpull_repl', '{public,sales}')
               GROUP BY 1, 2 ORDER BY 1, 2" \
	-c "SELECT object_type, object_name, privilege, detail, fix
	      FROM pgpull.check_privileges('pgpull_repl', '{public,sales}') WHERE NOT ok"

say "an application table created after the grants is readable at once"
psql_demo -c "SET ROLE app_owner; CREATE TABLE sales.refunds (id int PRIMARY KEY, amount numeric); RESET ROLE" \
	-c "SET ROLE pgpull_repl; SELECT count(*) AS refunds_readable FROM sales.refunds; RESET ROLE"

say "the read-replica check (this is a primary: the checks do not apply)"
psql_demo -c "SELECT setting, value, recommended, ok FROM pgpull.check_standby()"

say "the JSON Schema and row mapping of one stream"
psql_demo -At -c "SELECT jsonb_pretty(pgpull.json_schema('sales.orders'))"
psql_demo -At -c "SELECT pgpull.row_json_query('sales.orders')" >"$work/query.sql"
psql_demo -At -f "$work/query.sql" | head -n 3

say "done: the cluster is stopped and $work removed"
