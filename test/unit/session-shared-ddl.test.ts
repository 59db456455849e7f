// Which DDL moves the schema fence every read_your_writes read waits for: not a temporary
// table, which many applications create per request and no other client sees.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Classifier } from '../../src/sql/index.js';
import { noteSharedDdl, tookSharedDdl } from '../../src/proxy/session/shared-ddl.js';

describe('shared DDL', () => {
  const classifier = new Classifier();
  const cases: [string, boolean][] = [
    ['CREATE TABLE t (a int)', true],
    ['ALTER TABLE t ADD COLUMN b int', true],
    ['DROP TABLE t', true],
    ['CREATE TEMP TABLE t (a int)', false],
    ['CREATE TEMPORARY TABLE t (a int) ON COMMIT DROP', false],
    ['CREATE TEMP TABLE t (a int); CREATE INDEX ON t (a)', true],
    ['CREATE TEMP TABLE t (a int); SELECT 1', false],
  ];
  for (const [sql, shared] of cases)
    it(`${sql}: ${shared ? 'fences' : 'does not fence'}`, () => {
      const session = {};
      noteSharedDdl(session, classifier.classify(sql));
      assert.equal(tookSharedDdl(session), shared);
      assert.equal(tookSharedDdl(session), false, 'taken once');
    });
});
