#!/usr/bin/python3
"""asyncpg through pgtide: 20 concurrent connections, each running 50 iterations of parameterized
prepared statements, checking every result. Prints one JSON line; exits non-zero on any error.

asyncpg prepares every parameterized query as a named statement and caches it per connection;
conn.prepare() statements are made once and executed in later transactions, which in transaction
pooling may run on a different server connection than the one that saw the Parse.

Connection settings come from PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE.
The file name is not asyncpg.py because the script's folder comes first on sys.path: the
script would import itself instead of the driver.
Run with Debian's interpreter (/usr/bin/python3): the package is python3-asyncpg.
"""
import asyncio
import os
import sys

try:
    import asyncpg
except ImportError:
    print('asyncpg-clients.py: the asyncpg module is missing: apt-get install python3-asyncpg '
          '(and run this script with /usr/bin/python3)', file=sys.stderr)
    sys.exit(2)

from tally import CLIENTS, ITERATIONS, ROWS, Tally, expect  # noqa: E402 - after the driver check

# A stalled proxy must give a report, not a hang: per query, and for the whole run.
QUERY_TIMEOUT_S = 10
DEADLINE_S = 25


async def iteration(conn, statements, client, n):
    add_one, label = statements
    # Implicitly prepared and cached by asyncpg on first use.
    expect(await conn.fetchval('SELECT $1::int4 * 2', n), n * 2, 'doubled')
    rows = await conn.fetch(
        'SELECT g, g * $2::int8 AS product FROM generate_series(1, $1::int4) AS g', ROWS, n)
    expect([(r['g'], r['product']) for r in rows], [(g, g * n) for g in range(1, ROWS + 1)], 'series')
    # Explicitly prepared statements, executed inside a transaction.
    async with conn.transaction():
        expect(await add_one.fetchval(n), n + 1, 'add_one')
        expect(await label.fetchval(f'c{client}', n), f'c{client}:{n}', 'label')


async def client(index, settings, tally):
    try:
        conn = await asyncpg.connect(**settings, timeout=QUERY_TIMEOUT_S, command_timeout=QUERY_TIMEOUT_S)
    except Exception as err:  # noqa: BLE001 - every failure is reported, none is fatal to others
        tally.fail(index, 'connect', err)
        return
    try:
        statements = (await conn.prepare('SELECT $1::int4 + 1'),
                      await conn.prepare("SELECT $1::text || ':' || $2::int4"))
        for n in range(ITERATIONS):
            try:
                await iteration(conn, statements, index, n)
                tally.succeed()
            except Exception as err:  # noqa: BLE001
                tally.fail(index, f'iteration {n}', err)
                if conn.is_closed():
                    return
    except Exception as err:  # noqa: BLE001
        tally.fail(index, 'prepare', err)
    finally:
        try:
            await conn.close(timeout=QUERY_TIMEOUT_S)
        except Exception as err:  # noqa: BLE001
            tally.fail(index, 'close', err)


async def main():
    settings = dict(host=os.environ['PGHOST'], port=int(os.environ['PGPORT']),
                    user=os.environ['PGUSER'], password=os.environ.get('PGPASSWORD'),
                    database=os.environ['PGDATABASE'])
    tally = Tally()
    tasks = {asyncio.create_task(client(i, settings, tally)): i for i in range(CLIENTS)}
    _, late = await asyncio.wait(tasks, timeout=DEADLINE_S)
    for task in late:
        task.cancel()
        tally.fail(tasks[task], 'deadline', TimeoutError(f'not finished after {DEADLINE_S} s'))
    return tally.report(f'asyncpg {asyncpg.__version__}')


if __name__ == '__main__':
    sys.exit(asyncio.run(main()))
