import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chosenSemiSpace, SEMI_SPACE_MIB, youngGenerationArgs } from '../../src/young-generation.js';

const CAP = `--max-semi-space-size=${SEMI_SPACE_MIB}`;

describe('young generation', () => {
  it('an operator chooses a size in node arguments or NODE_OPTIONS, in either spelling', () => {
    const cases: [string[], string | undefined, boolean][] = [
      [[], undefined, false],
      [['--max-old-space-size=512'], '--max-old-space-size=512 --enable-source-maps', false],
      [['--max-semi-space-size=32'], undefined, true],
      [['--max_semi_space_size=32'], undefined, true],
      [['--max-semi-space-size', '32'], undefined, true],
      [[], '--max-semi-space-size=2', true],
      [[], '  --trace-gc   --max_semi_space_size=2 ', true],
      [['--max-semi-space-size-x=1'], '--max-semi-space-sizes=1', false],
    ];
    for (const [argv, options, chosen] of cases) {
      assert.equal(chosenSemiSpace(argv, options), chosen, `${argv.join(' ')} | ${options}`);
    }
  });

  it("a spawned pooler gets the parent's own choice, inherits NODE_OPTIONS, or gets the cap", () => {
    assert.deepEqual(youngGenerationArgs([], undefined), [CAP]);
    assert.deepEqual(youngGenerationArgs(['--enable-source-maps'], '--trace-gc'), [CAP]);
    assert.deepEqual(youngGenerationArgs(['--inspect', '--max-semi-space-size=32'], undefined), [
      '--max-semi-space-size=32',
    ]);
    assert.deepEqual(youngGenerationArgs(['--max_semi_space_size', '8', '--inspect'], undefined), [
      '--max_semi_space_size',
      '8',
    ]);
    assert.deepEqual(youngGenerationArgs([], '--max-semi-space-size=2'), []);
  });
});
