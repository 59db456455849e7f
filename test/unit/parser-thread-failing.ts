// A parser thread for parser-thread.test.ts: it answers as the real one, except that a statement
// naming `crash` ends the thread and one naming `hang` is never answered.
import { parentPort } from 'node:worker_threads';
import { loadParser, parseFacts } from '../../src/sql/parse-tree.js';

await loadParser();
parentPort?.on('message', (sql: string) => {
  if (sql.includes('crash')) process.exit(3);
  if (sql.includes('hang')) for (;;);
  parentPort?.postMessage(parseFacts(sql));
});
