#!/bin/bash
# tests/demo.sh: the body of "make demo".
#
# Usage: tests/demo.sh SRCDIR
#
# A throwaway source cluster with sample data, the extension, a replication
# role made by grant_script, streams tracked (key-based and full-table), the
# privilege audit, a sync into the reference receiver, an incremental sync
# after changes, then the loading report and a source/destination row-count
# comparison.  Expects pgpull installed (the Makefile does that first).  As root it runs as the
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
receiver_pid=
cleanup()
{
	if [ -n "$receiver_pid" ]; then
		kill "$receiver_pid" 2>/dev/null && wait "$receiver_pid" 2>/dev/null
	fi
	pg_ctl -D "$work/data" -m fast -w -s stop
}
trap cleanup EXIT
createdb -h "$work" shop

say "sample data: two schemas, an application owner, awkward types"
psql_demo -f "$SRC/tests/fixtures/demo_data.sql"
psql_demo -c '\dt+ (public|sales).*'

say "CREATE EXTENSION pgpull"
psql_demo -c 'CREATE EXTENSION pgpull' -c '\dx pgpull'

say "the grant script for the replication role (psql \\gexec runs it)"
psql_demo -At -c "SELECT pgpull.grant_script('pgpull_repl', '{public,sales}', integrations => '{Stitch PostgreSQL}')"
echo "SELECT pgpull.grant_script('pgpull_repl', '{public,sales}', integrations => '{Stitch PostgreSQL}') \gexec" | psql_demo >/dev/null
psql_demo -c "ALTER ROLE pgpull_repl PASSWORD NULL"

say "streams tracked: key-based and full-table, a view"
psql_demo -c "SELECT pgpull.track('public.customers', 'key_based', 'updated_at', integration => 'Stitch PostgreSQL'),
       pgpull.track('sales.orders', 'key_based', 'updated_at', integration => 'Stitch PostgreSQL'),
       pgpull.track('sales.order_lines', 'full_table', integration => 'Stitch PostgreSQL'),
       pgpull.track('public.events', 'key_based', 'happened_at', integration => 'Stitch PostgreSQL'),
       pgpull.track('sales.big_spenders', 'full_table', key_columns => '{customer_id}',
                    integration => 'Stitch PostgreSQL')" \
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
psql_demo -At -c "SELECT jsonb_pretty(pgpull.json_schema('sales.orders', 'Stitch PostgreSQL'))"
psql_demo -At -c "SELECT pgpull.row_json_query('sales.orders')" >"$work/query.sql"
psql_demo -At -f "$work/query.sql" | head -n 3

say "the reference receiver: an Import API on 127.0.0.1 loading into database \"warehouse\""
createdb -h "$work" warehouse
printf '{"demo-token": "Stitch PostgreSQL"}' >"$work/tokens.json"
/usr/bin/python3 "$SRC/tests/receiver/receiver.py" --listen 127.0.0.1:0 \
	--dsn "host=$work port=5432 dbname=warehouse" --tokens "$work/tokens.json" \
	--port-file "$work/receiver.port" >"$work/receiver.log" 2>&1 &
receiver_pid=$!
for _ in $(seq 100); do [ -s "$work/receiver.port" ] && break; sleep 0.1; done
target="http://127.0.0.1:$(cat "$work/receiver.port")"
echo "receiver at $target"

# the token travels in the environment, never on the command line
export PGPULL_TOKEN=demo-token
source_conn="host=$work port=5432 dbname=shop user=pgpull_repl"
sync()
{
	pgpull sync --source="$source_conn" --integration='Stitch PostgreSQL' \
		--target="$target" --batch-rows=1000 && echo "pgpull sync: exit status 0"
}

say "first sync, as the replication role: every row"
sync

say "changes on the source: updates, inserts, a NULL key, a new column"
psql_demo -c "SET ROLE app_owner;
UPDATE public.customers SET email = 'new-' || id || '@example.com', updated_at = now() WHERE id % 50 = 0;
INSERT INTO public.customers (id, name) VALUES (501, 'Late Customer');
UPDATE sales.orders SET amount = amount + 1, updated_at = now() WHERE id <= 25;
INSERT INTO public.events VALUES (now(), 'login', '{}'), (NULL, 'undated again', NULL);
ALTER TABLE sales.order_lines ADD COLUMN note text DEFAULT 'added later';
RESET ROLE"

say "incremental sync: only the changed rows (and ties at the bookmark) go"
sync

say "the loading report"
psql_demo -c "SELECT destination_table, method, last_status, rows_loaded_24h, max_bookmark
                FROM pgpull.loading_report ORDER BY destination_table"
psql_demo -c "SELECT r.run_id, rs.status, s.destination_table, rs.rows_extracted, rs.rows_loaded, rs.batches
                FROM pgpull.run_streams rs JOIN pgpull.runs r USING (run_id)
                JOIN pgpull.stream s USING (stream_id) ORDER BY 1, 3"

say "source and destination compared"
for t in public.customers sales.orders sales.order_lines public.events sales.big_spenders; do
	src=$(psql -X -At -d shop -c "SELECT count(*) FROM $t")
	dst=$(psql -X -At -d warehouse -c "SELECT count(DISTINCT ($(
		psql -X -At -d shop -c "SELECT CASE WHEN key_columns = '{}' THEN '_sdc_sequence'
		        ELSE array_to_string(ARRAY(SELECT quote_ident(k) FROM unnest(key_columns) k), ',') END
		  FROM pgpull.streams WHERE relation = '$t'::regclass")))
		FROM stitch_postgresql.${t#*.}")
	printf '%-20s source %6s rows   destination %6s rows\n' "$t" "$src" "$dst"
done
psql -X -d warehouse -c "SELECT id, email FROM stitch_postgresql.customers WHERE id IN (50, 100, 501) ORDER BY id"

say "done: the receiver and the cluster are stopped and $work removed"
