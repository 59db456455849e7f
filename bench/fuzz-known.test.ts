import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  failedBlockPrepare,
  isolationAfterSnapshot,
  startupResetInBlock,
  unnamedPortalInFailedBlock,
  unnamedStatementNamed,
} from './fuzz-known.js';
import { DROPPED_PORTAL } from '../src/proxy/session/unnamed-portal.js';

const answer = (...messages: string[]) => ({ end: 'ready' as const, messages });
const refused =
  'ErrorResponse ERROR 25P02 current transaction is aborted, commands ignored until end of transaction block';
const failed = answer('ErrorResponse ERROR 34000 portal "p1" does not exist', 'ReadyForQuery E');

test('26000 naming pgtide\'s no-unnamed-statement name for PostgreSQL\'s "unnamed prepared statement" is known (1)', () => {
  const direct = answer('CloseComplete', 'ErrorResponse ERROR 26000 unnamed prepared statement does not exist');
  const pooled = answer(
    'CloseComplete',
    'ErrorResponse ERROR 26000 prepared statement "<no unnamed statement prepared on this connection>" does not exist',
  );
  assert.equal(unnamedStatementNamed(undefined, direct, pooled), true);
  const other = answer('CloseComplete', 'ErrorResponse ERROR 26000 prepared statement "s1" does not exist');
  assert.equal(unnamedStatementNamed(undefined, direct, other), false);
  assert.equal(unnamedStatementNamed(undefined, direct, answer('CloseComplete', 'BindComplete')), false);
});

test("a Describe or a Bind's parameter count refused with 25P02 in a failed block is known (4)", () => {
  const describe = answer('ParameterDescription()', 'NoData', 'ReadyForQuery E');
  assert.equal(failedBlockPrepare(failed, describe, answer(refused, 'ReadyForQuery E')), true);
  const count = answer(
    'ErrorResponse ERROR 08P01 bind message supplies 1 parameters, but prepared statement "s2" requires 0',
  );
  assert.equal(failedBlockPrepare(failed, count, answer(refused, 'ReadyForQuery E')), true);
  const again = answer('ErrorResponse ERROR 42P05 prepared statement "s2" already exists', 'ReadyForQuery E');
  assert.equal(failedBlockPrepare(failed, again, answer(refused, 'ReadyForQuery E')), true);
  // The block failed earlier in the same batch.
  const within = answer('ReadyForQuery E', 'ParameterDescription()', 'NoData', 'ReadyForQuery E');
  assert.equal(failedBlockPrepare(undefined, within, answer('ReadyForQuery E', refused, 'ReadyForQuery E')), true);
});

test('the same answers outside a failed block, or other answers, are divergences', () => {
  const describe = answer('ParameterDescription()', 'NoData', 'ReadyForQuery T');
  assert.equal(failedBlockPrepare(answer('ReadyForQuery T'), describe, answer(refused, 'ReadyForQuery T')), false);
  assert.equal(failedBlockPrepare(undefined, describe, answer(refused, 'ReadyForQuery T')), false);
  const bound = answer('BindComplete', 'ReadyForQuery E');
  assert.equal(failedBlockPrepare(failed, bound, answer(refused, 'ReadyForQuery E')), false);
  const other = answer('ParameterDescription()', 'NoData', 'ReadyForQuery E');
  const missing = answer('ErrorResponse ERROR 26000 prepared statement "s1" does not exist', 'ReadyForQuery E');
  assert.equal(failedBlockPrepare(failed, other, missing), false);
});

test("a startup setting's server value after its RESET in a transaction block is known (5), not elsewhere", () => {
  const inBlock = answer('CommandComplete RESET', 'ReadyForQuery T');
  const direct = answer('RowDescription(current_setting:25/-1/-1/0)', 'DataRow("fuzz")', 'ReadyForQuery T');
  const pooled = answer('RowDescription(current_setting:25/-1/-1/0)', 'DataRow("")', 'ReadyForQuery T');
  assert.equal(startupResetInBlock(inBlock, direct, pooled), true);
  assert.equal(startupResetInBlock(answer('CommandComplete RESET', 'ReadyForQuery I'), direct, pooled), false);
  const other = answer('RowDescription(current_setting:25/-1/-1/0)', 'DataRow("fz")', 'ReadyForQuery T');
  assert.equal(startupResetInBlock(inBlock, direct, other), false);
});

test('an Execute of the unnamed portal answered 55000 one way and 25P02 the other in a failed block is known (6)', () => {
  const cannotRun = answer('ErrorResponse ERROR 55000 portal "" cannot be run', 'ReadyForQuery E');
  const aborted = answer(refused, 'ReadyForQuery E');
  assert.equal(unnamedPortalInFailedBlock(failed, cannotRun, aborted), true);
  assert.equal(unnamedPortalInFailedBlock(failed, aborted, cannotRun), true);
  // pgtide's answer since it sends the Execute under a name no portal has.
  const shielded = answer(`ErrorResponse ERROR 34000 portal "${DROPPED_PORTAL}" does not exist`, 'ReadyForQuery E');
  assert.equal(unnamedPortalInFailedBlock(failed, aborted, shielded), true);
  assert.equal(unnamedPortalInFailedBlock(failed, cannotRun, shielded), true);
  assert.equal(unnamedPortalInFailedBlock(answer('ReadyForQuery T'), aborted, shielded), false);
  // Outside a failed block, or another error: a divergence.
  assert.equal(unnamedPortalInFailedBlock(answer('ReadyForQuery T'), cannotRun, aborted), false);
  const missing = answer('ErrorResponse ERROR 34000 portal "" does not exist', 'ReadyForQuery E');
  assert.equal(unnamedPortalInFailedBlock(failed, missing, aborted), false);
});

test('an isolation level refused with 25001 in a block where PostgreSQL sets it is known (8), not elsewhere', () => {
  const inBlock = answer('CommandComplete BEGIN', 'ReadyForQuery T');
  const warning = 'NoticeResponse WARNING 25001 there is already a transaction in progress';
  const direct = answer(warning, 'CommandComplete START TRANSACTION', 'ReadyForQuery T');
  const pooled = answer(
    warning,
    'ErrorResponse ERROR 25001 SET TRANSACTION ISOLATION LEVEL must be called before any query',
    'ReadyForQuery E',
  );
  assert.equal(isolationAfterSnapshot(inBlock, direct, pooled), true);
  assert.equal(isolationAfterSnapshot(answer('ReadyForQuery I'), direct, pooled), false);
  const other = answer(warning, 'ErrorResponse ERROR 25P02 current transaction is aborted', 'ReadyForQuery E');
  assert.equal(isolationAfterSnapshot(inBlock, direct, other), false);
});
