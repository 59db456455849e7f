// Divergences the differential fuzzer recognises by their answers, where the generator cannot
// leave their shape out (it never looks at answers): see bench/README.md, known divergences.
import type { Answer } from './fuzz-wire.js';

const READY_FAILED = 'ReadyForQuery E';

/**
 * Known divergence (4): in a failed transaction block a server cannot prepare a statement it
 * lacks, so a Describe of it, or a Bind with the wrong number of parameters, gets the 25P02 of
 * pgtide's Parse where PostgreSQL describes it (a statement without result rows) or answers
 * 08P01. `before`: the answers to the batch before, whose last ReadyForQuery may have left the
 * block failed.
 */
export function failedBlockPrepare(before: Answer | undefined, direct: Answer, pooled: Answer): boolean {
  const d = direct.messages;
  const p = pooled.messages;
  let i = 0;
  while (i < d.length && d[i] === p[i]) i++;
  if (i === d.length || !p[i]?.startsWith('ErrorResponse ERROR 25P02 ')) return false;
  const theirs = d[i]!;
  if (
    !theirs.startsWith('ParameterDescription') &&
    !theirs.startsWith('ErrorResponse ERROR 08P01 bind message supplies')
  )
    return false;
  for (let k = i - 1; k >= 0; k--) if (d[k]!.startsWith('ReadyForQuery ')) return d[k] === READY_FAILED;
  return before?.messages.at(-1) === READY_FAILED;
}
