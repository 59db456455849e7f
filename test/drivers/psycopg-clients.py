#!/usr/bin/python3
"""psycopg 3 through pgtide: 20 threads, one connection each, running 50 iterations of
parameterized prepared statements, checking every result. Prints one JSON line; exits non-zero
on any error.

prepare_threshold=0 makes psycopg prepare every query as a named statement on its first
execution and reuse it afterwards, so later executions may run on a different server connection
than the Parse in transaction pooling. prepare=True says the same per query.

Connection settings come from PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE.
The file name is not psycopg.py because the script's folder comes first on sys.path: the
script would import itself instead of the driver.
Run with Debian's interpreter (/usr/bin/python3): the package is python3-psycopg.
"""
import os
import sys

try:
    import psycopg
except ImportError:
    print('psycopg-clients.py: the psycopg (3) module is missing: apt-get install python3-psycopg '
          '(and run this script with /usr/bin/python3)', file=sys.stderr)
    sys.exit(2)

from tally import CLIENTS, ITERATIONS, ROWS, Tally, expect, run_clients  # noqa: E402 - after the driver check

# A stalled proxy must give a report, not a hang: for the connection, and for the whole run.
CONNECT_TIMEOUT_S = 10
DEADLINE_S = 25


def iteration(conn, client, n):
    expect(conn.execute('SELECT %s::int4 * 2', (n,), prepare=True).fetchone(), (n * 2,), 'doubled')
    rows = conn.execute('SELECT g, g * %s::int8 FROM generate_series(1, %s::int4) AS g',
                        (n, ROWS)).fetchall()
    expect(rows, [(g, g * n) for g in range(1, ROWS + 1)], 'series')
    with conn.transaction():
        expect(conn.execute('SELECT %s::int4 + 1', (n,)).fetchone(), (n + 1,), 'add_one')
        expect(conn.execute("SELECT %s::text || ':' || %s::int4", (f'c{client}', n)).fetchone(),
               (f'c{client}:{n}',), 'label')


def client(index, settings, tally):
    try:
        conn = psycopg.connect(**settings, connect_timeout=CONNECT_TIMEOUT_S, autocommit=True)
    except Exception as err:  # noqa: BLE001 - every failure is reported, none is fatal to others
        tally.fail(index, 'connect', err)
        return
    with conn:
        conn.prepare_threshold = 0
        for n in range(ITERATIONS):
            try:
                iteration(conn, index, n)
                tally.succeed()
            except Exception as err:  # noqa: BLE001
                tally.fail(index, f'iteration {n}', err)
                if conn.closed:
                    return


def main():
    settings = dict(host=os.environ['PGHOST'], port=os.environ['PGPORT'],
                    user=os.environ['PGUSER'], password=os.environ.get('PGPASSWORD'),
                    dbname=os.environ['PGDATABASE'])
    tally = Tally()
    run_clients(CLIENTS, client, (settings,), tally, DEADLINE_S)
    return tally.report(f'psycopg {psycopg.version.__version__} (libpq {psycopg.pq.version()})')


if __name__ == '__main__':
    sys.exit(main())
