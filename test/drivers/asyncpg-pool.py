#!/usr/bin/python3
"""asyncpg's own pool through pgtide: 20 tasks share a pool of 4 to 8 connections, each taking a
connection 50 times. asyncpg resets a connection when the pool takes it back (its reset query:
advisory unlocks, CLOSE ALL, UNLISTEN *, RESET ALL) and keeps the connection's statement cache
across those resets. Half-way, one task adds a column to the table that a cached `SELECT *`
reads: every connection's cached statement then has the old shape, and asyncpg prepares it again
when PostgreSQL says so (0A000). Every row must decode with the columns of its description.

Connection settings come from PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE.
Run with Debian's interpreter (/usr/bin/python3): the package is python3-asyncpg.
"""
import asyncio
import os
import sys

try:
    import asyncpg
except ImportError:
    print('asyncpg-pool.py: the asyncpg module is missing: apt-get install python3-asyncpg '
          '(and run this script with /usr/bin/python3)', file=sys.stderr)
    sys.exit(2)

from tally import CLIENTS, ITERATIONS, Tally, expect  # noqa: E402 - after the driver check

QUERY_TIMEOUT_S = 10
DEADLINE_S = 25
TABLE = 'asyncpg_pool_rows'


async def iteration(pool, index, n, widened):
    async with pool.acquire() as conn:
        expect(await conn.fetchval('SELECT $1::int4 * 2', n), n * 2, 'doubled')
        if index == 0 and n == ITERATIONS // 2:
            await conn.execute(f'ALTER TABLE {TABLE} ADD COLUMN extra int DEFAULT 7')
            widened.set()
        row = await conn.fetchrow(f'SELECT * FROM {TABLE} WHERE id = $1', index)
        expect(row['id'], index, 'id')
        expect(row['label'], f'row {index}', 'label')
        # The columns asyncpg decoded are those its description named: 2, or 3 once widened.
        expect(len(row) in (2, 3), True, f'columns {list(row.keys())}')
        if len(row) == 3:
            expect(row['extra'], 7, 'extra')
        if widened.is_set() and index == 0:
            expect(len(row), 3, 'columns after the change, on the connection that made it')


async def client(index, pool, widened, tally):
    for n in range(ITERATIONS):
        try:
            await iteration(pool, index, n, widened)
            tally.succeed()
        except Exception as err:  # noqa: BLE001 - every failure is reported, none is fatal to others
            tally.fail(index, f'iteration {n}', err)


async def main():
    settings = dict(host=os.environ['PGHOST'], port=int(os.environ['PGPORT']),
                    user=os.environ['PGUSER'], password=os.environ.get('PGPASSWORD'),
                    database=os.environ['PGDATABASE'])
    setup = await asyncpg.connect(**settings, timeout=QUERY_TIMEOUT_S)
    await setup.execute(f'DROP TABLE IF EXISTS {TABLE}; CREATE TABLE {TABLE} (id int PRIMARY KEY, label text)')
    await setup.execute(f"INSERT INTO {TABLE} SELECT g, 'row ' || g FROM generate_series(0, {CLIENTS - 1}) AS g")
    await setup.close()
    tally = Tally()
    widened = asyncio.Event()
    pool = await asyncpg.create_pool(**settings, min_size=4, max_size=8, timeout=QUERY_TIMEOUT_S,
                                     command_timeout=QUERY_TIMEOUT_S)
    tasks = {asyncio.create_task(client(i, pool, widened, tally)): i for i in range(CLIENTS)}
    _, late = await asyncio.wait(tasks, timeout=DEADLINE_S)
    for task in late:
        task.cancel()
        tally.fail(tasks[task], 'deadline', TimeoutError(f'not finished after {DEADLINE_S} s'))
    await pool.close()
    return tally.report(f'asyncpg {asyncpg.__version__} pool')


if __name__ == '__main__':
    sys.exit(asyncio.run(main()))
