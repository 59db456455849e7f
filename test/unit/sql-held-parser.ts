// A TreeParser for unit tests: it holds what the classifier asks until the test answers it, with
// the real grammar in the test's own thread, as the parser thread would (the thread itself is
// tested in parser-thread.test.ts).
import { Classifier, type ClassifierOptions, type TreeParser } from '../../src/sql/index.js';
import { loadParser, parseFacts } from '../../src/sql/parse-tree.js';

export class HeldParser implements TreeParser {
  /** Statements asked about and not answered yet: [key, text]. */
  readonly held: Array<[key: string, sql: string]> = [];
  /** False: the parser refuses requests, as a thread waiting to be started again does. */
  running = true;

  parse(key: string, sql: string): boolean {
    if (this.running) this.held.push([key, sql]);
    return this.running;
  }

  /** Answers everything held, into `c`; the grammar must be loaded (`loadParser`). */
  answerAll(c: Classifier): number {
    const answered = this.held.splice(0);
    for (const [key, sql] of answered) c.learn(key, parseFacts(sql));
    return answered.length;
  }
}

/** A classifier with a HeldParser, and the grammar loaded to answer it. */
export async function heldClassifier(opts: ClassifierOptions = {}): Promise<[Classifier, HeldParser]> {
  await loadParser();
  const parser = new HeldParser();
  return [new Classifier({ ...opts, parser }), parser];
}
