// What runs in the parser thread (see parser-thread.ts): it loads libpg-query's WASM module, then
// answers each statement text it is sent with the facts tier 2 needs, in the order received.
import { parentPort } from 'node:worker_threads';
import { loadParser, parseFacts, type ParseAnswer } from './sql/parse-tree.js';
import { PARSER_READY } from './parser-thread.js';

const port = parentPort;
if (port === null) throw new Error('parser-thread-main.js runs only as the parser thread');
await loadParser();
port.postMessage(PARSER_READY);
port.on('message', (sql: string) => {
  let answer: ParseAnswer;
  try {
    answer = parseFacts(sql);
  } catch (err) {
    // Not the statement's grammar but the parser failing: the statement goes to the primary
    // for good (its answer is cached), and a fresh thread, with a fresh WASM instance, follows.
    port.postMessage({ error: `SQL parser failed: ${(err as Error).message}` } satisfies ParseAnswer);
    process.exit(1);
  }
  port.postMessage(answer);
});
