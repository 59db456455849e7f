// A parser thread for parser-thread.test.ts: it answers as the real one, except that it takes
// longer to load than the tests' answer timeout (as on a busy machine, which the watchdog must
// not take for a hang), a statement naming `crash` ends the thread and one naming `hang` is
// never answered.
import { setTimeout as sleep } from 'node:timers/promises';
import { parentPort } from 'node:worker_threads';
import { loadParser, parseFacts } from '../../src/sql/parse-tree.js';
import { PARSER_READY } from '../../src/parser-thread.js';

await sleep(500);
await loadParser();
parentPort?.postMessage(PARSER_READY);
parentPort?.on('message', (sql: string) => {
  if (sql.includes('crash')) process.exit(3);
  if (sql.includes('hang')) for (;;);
  parentPort?.postMessage(parseFacts(sql));
});
