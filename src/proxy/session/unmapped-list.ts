// pg_prepared_statements read by a client whose named statements pgtide does not map (its first
// one came behind unanswered requests, or longer than one read: see untrackedStatements): the
// server's rows under names pgtide did not give, which are the client's own, take the view's
// place in the text. Read as it was sent, the view listed pgtide's own check statements and the
// copies other clients had left on that server, with their texts.
import * as encode from '../../protocol/encode.js';
import { findStatementLists } from '../../sql/statement-list.js';
import { edited } from '../../sql/text-edits.js';
import { listEdits, statementListSql } from '../statement-list.js';
import { replaceMessage, type EditSession } from './chunk-edits.js';

const UNMAPPED_LIST = statementListSql([]);

/** The Query or Parse (`type`) whose body ends at `end` of the chunk, its text at body[textStart, textEnd). */
export function unmappedList(
  s: EditSession,
  type: number,
  body: Buffer,
  textStart: number,
  textEnd: number,
  end: number,
): void {
  const lists = findStatementLists(body, textStart, textEnd);
  if (lists === null) return;
  const edits = listEdits(lists, UNMAPPED_LIST);
  if (edits.length === 0) return;
  const text = edited(body, textStart, textEnd, edits);
  const message = encode.messageOf(type, [body.subarray(0, textStart), text, body.subarray(textEnd)]);
  replaceMessage(s, end - 5 - body.length, end, message);
}
