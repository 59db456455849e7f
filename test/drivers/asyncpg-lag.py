#!/usr/bin/python3
"""asyncpg clients whose reads a pooler spreads over a primary and standbys, one of which lags:
8 connections run a cached `SELECT *` 150 times each while one of them adds a column to its
table. On a direct connection PostgreSQL fails each connection's cached statement once (0A000,
InvalidCachedStatementError), which asyncpg prepares again and retries by itself, so the
application sees no error. Every row must decode with the columns of its description.

Connection settings come from PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE; the table from
LAG_TABLE (id int, label text, a row per client, made by the caller).
Run with Debian's interpreter (/usr/bin/python3): the package is python3-asyncpg.
"""
import asyncio
import os
import sys

try:
    import asyncpg
except ImportError:
    print('asyncpg-lag.py: the asyncpg module is missing: apt-get install python3-asyncpg '
          '(and run this script with /usr/bin/python3)', file=sys.stderr)
    sys.exit(2)

from tally import Tally, expect  # noqa: E402 - after the driver check

CLIENTS = 8
ITERATIONS = 150
ALTER_AT = 30
PAUSE_S = 0.03
QUERY_TIMEOUT_S = 10
DEADLINE_S = 40
TABLE = os.environ.get('LAG_TABLE', 'asyncpg_lag_rows')
# Failures by exception class, printed to stderr for the test's message.
KINDS = {}


async def client(index, settings, tally):
    conn = await asyncpg.connect(**settings, timeout=QUERY_TIMEOUT_S, command_timeout=QUERY_TIMEOUT_S)
    try:
        for n in range(ITERATIONS):
            try:
                if index == 0 and n == ALTER_AT:
                    await conn.execute(f'ALTER TABLE {TABLE} ADD COLUMN extra int DEFAULT 7')
                row = await conn.fetchrow(f'SELECT * FROM {TABLE} WHERE id = $1', index)
                expect(row['id'], index, 'id')
                expect(len(row) in (2, 3), True, f'columns {list(row.keys())}')
                tally.succeed()
            except Exception as err:  # noqa: BLE001 - every failure is reported, none ends the run
                tally.fail(index, f'iteration {n}', err)
                KINDS[type(err).__name__] = KINDS.get(type(err).__name__, 0) + 1
            await asyncio.sleep(PAUSE_S)
    finally:
        await conn.close()


async def main():
    settings = dict(host=os.environ['PGHOST'], port=int(os.environ['PGPORT']),
                    user=os.environ['PGUSER'], password=os.environ.get('PGPASSWORD'),
                    database=os.environ['PGDATABASE'])
    tally = Tally()
    tasks = [asyncio.create_task(client(i, settings, tally)) for i in range(CLIENTS)]
    _, late = await asyncio.wait(tasks, timeout=DEADLINE_S)
    for task in late:
        task.cancel()
    print(f'failures by kind: {KINDS}', file=sys.stderr)
    return tally.report(f'asyncpg {asyncpg.__version__} lag', CLIENTS * ITERATIONS)


if __name__ == '__main__':
    sys.exit(asyncio.run(main()))
