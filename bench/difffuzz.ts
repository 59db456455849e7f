// Differential protocol fuzzer: the same seeded random sequence of simple and extended-protocol
// batches goes to PostgreSQL directly (unix socket) and through pgtide (transaction pooling,
// pool of 3, two noise clients running SELECT 1 so that transactions change servers), and every
// answer must be the same. A seed stops at its first divergence, which is shrunk, printed with
// both answers and saved. Exits 1 when any seed diverged.
// `npm run bench:fuzz`; settings from FUZZ_* environment variables (see bench/README.md).
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { writeAuthFile } from '../test/support/pgtide.js';
import { freePorts } from '../test/support/free-ports.js';
import { sqlOn, startTopology, stopTopology, type Topology } from '../test/support/topology.js';
import { type Batch, generator, seededRandom } from './fuzz-generator.js';
import {
  failedBlockPrepare,
  isolationAfterSnapshot,
  startupResetInBlock,
  unnamedPortalInFailedBlock,
  unnamedStatementNamed,
} from './fuzz-known.js';
import { shrink } from './fuzz-shrink.js';
import { query } from '../src/protocol/encode.js';
import { bind, describe, execute, parse, sync } from '../test/support/pipeline.js';
import { type Answer, RawConnection } from './fuzz-wire.js';
import { startPgtide } from './poolers.js';
import { Cleanup } from './processes.js';
import { integerSetting } from './settings.js';

const STEPS = integerSetting(process.env, 'FUZZ_STEPS', 300, 1);
const SHRINK_TRIES = integerSetting(process.env, 'FUZZ_SHRINK_TRIES', 400, 0);
const AVOID_KNOWN = process.env.FUZZ_AVOID_KNOWN === '1';
const PROTOCOL_NAMES_IN_SQL = process.env.FUZZ_PROTOCOL_NAMES_IN_SQL === '1';
const OUT_DIR = resolve(process.env.FUZZ_OUT_DIR || '.tmp/fuzz');
/** Another pgtide build (a `dist` directory) to fuzz instead of this one. */
const PGTIDE_DIST = process.env.FUZZ_PGTIDE_DIST || undefined;
/** Split mode: each batch is written to pgtide in 2-5 pieces with 0-2 ms pauses between them. */
const SPLIT = process.env.FUZZ_SPLIT === '1';
/** Split mode: the direct connection gets the same pieces (PostgreSQL must not care). */
const SPLIT_DIRECT = process.env.FUZZ_SPLIT_DIRECT === '1';
/** Texts and parameters of 70-300 KB now and then. */
const BIG = process.env.FUZZ_BIG === '1';
/** Now and then 2-4 batches written at once before their answers are read. */
const PIPELINE = process.env.FUZZ_PIPELINE === '1';
/** The noise clients also run their own unnamed statements and portals and check their answers. */
const UNNAMED_NOISE = process.env.FUZZ_UNNAMED_NOISE === '1';
const POOL_SIZE = 3;
const NOISE_CLIENTS = 2;
const BATCH_TIMEOUT_MS = 5_000;
const RECOVERY_TIMEOUT_MS = 60_000;
const CRASH_SETTLE_MS = 200;
const SYNC = Buffer.from([0x53, 0, 0, 0, 4]);
/** Replays of the shrunk sequence, to say how reliably it diverges. */
const CONFIRM_RUNS = 3;

/** One batch and what each side answered. */
interface Exchange {
  batch: Batch;
  direct: Answer;
  pooled: Answer;
}

type Outcome =
  | { kind: 'same' }
  | { kind: 'diverged'; exchanges: Exchange[] }
  | { kind: 'known divergence (1)'; exchanges: Exchange[] }
  | { kind: 'known divergence (4)'; exchanges: Exchange[] }
  | { kind: 'known divergence (5)'; exchanges: Exchange[] }
  | { kind: 'known divergence (6)'; exchanges: Exchange[] }
  | { kind: 'known divergence (8)'; exchanges: Exchange[] }
  | { kind: 'postgres crashed'; exchanges: Exchange[] }
  | { kind: 'noise diverged'; exchanges: Exchange[] };

/** Whether the direct session ended since its last answer: PostgreSQL restarted after a backend crash. */
async function lostSince(direct: RawConnection): Promise<boolean> {
  // The postmaster ends the other sessions within milliseconds of the crash.
  await new Promise((r) => setTimeout(r, CRASH_SETTLE_MS));
  const probe = await direct.send(SYNC, 1, BATCH_TIMEOUT_MS);
  return probe.end === 'closed';
}

class Fuzzer {
  private readonly dir: string;
  private readonly port: number;
  stopping = false;

  constructor(
    private topology: Topology,
    dir: string,
    port: number,
  ) {
    this.dir = dir;
    this.port = port;
  }

  /** Runs the batches on fresh connections through a fresh pgtide, up to the first difference. */
  async run(batches: Iterable<Batch>): Promise<Outcome> {
    const t = this.topology;
    const pgtide = await startPgtide(
      { topology: t, dir: this.dir, authFile: writeAuthFile(t, this.dir), port: this.port },
      {
        name: 'pgtide',
        backends: [{ node: t.primary, role: 'primary', weight: 1 }],
        cpuProfileDir: undefined,
        dist: PGTIDE_DIST,
        authType: 'trust',
        poolSize: POOL_SIZE,
      },
    );
    const open = (opts: { path: string } | { host: string; port: number }) =>
      RawConnection.open(opts, t.scramUser.user, t.database);
    const connections: RawConnection[] = [];
    try {
      const pooledAt = { host: '127.0.0.1', port: this.port };
      const noise = await Promise.all(Array.from({ length: NOISE_CLIENTS }, () => open(pooledAt)));
      const direct = await open({ path: join(t.primary.socketDir, `.s.PGSQL.${t.primary.port}`) });
      const pooled = await open(pooledAt);
      connections.push(...noise, direct, pooled);
      const noiseWrong: string[] = [];
      noise.forEach((c, i) => void makeNoise(c, i, noiseWrong));
      const exchanges: Exchange[] = [];
      for (const batch of batches) {
        const bytes = Buffer.from(batch.hex, 'hex');
        const split = SPLIT && batch.cuts !== undefined;
        const [d, p] = await Promise.all([
          split && SPLIT_DIRECT
            ? direct.sendSplit(bytes, batch.cuts!, batch.pauses!, batch.syncs, BATCH_TIMEOUT_MS)
            : direct.send(bytes, batch.syncs, BATCH_TIMEOUT_MS),
          split
            ? pooled.sendSplit(bytes, batch.cuts!, batch.pauses!, batch.syncs, BATCH_TIMEOUT_MS)
            : pooled.send(bytes, batch.syncs, BATCH_TIMEOUT_MS),
        ]);
        exchanges.push({ batch, direct: d, pooled: p });
        if (noiseWrong.length > 0) {
          console.log(
            `  noise client answers wrong after step ${exchanges.length}: ${noiseWrong.join(' ;; ').slice(0, 2000)}`,
          );
          return { kind: 'noise diverged', exchanges };
        }
        if (d.end === 'closed') {
          await this.recover();
          return { kind: 'postgres crashed', exchanges };
        }
        if (sameAnswer(d, p)) continue;
        // A backend that crashes takes every session down once PostgreSQL restarts. pgtide's
        // server runs the batch in a state of its own (renamed statements, its own Parses), so
        // it may crash where the direct session did not: that session then dies too.
        if (p.end === 'closed' && (await lostSince(direct))) {
          await this.recover();
          return { kind: 'postgres crashed', exchanges };
        }
        // The sessions differ from here on: the seed stops.
        const before = exchanges.at(-2)?.direct;
        if (AVOID_KNOWN && unnamedStatementNamed(before, d, p)) return { kind: 'known divergence (1)', exchanges };
        if (AVOID_KNOWN && failedBlockPrepare(before, d, p)) return { kind: 'known divergence (4)', exchanges };
        if (AVOID_KNOWN && startupResetInBlock(before, d, p)) return { kind: 'known divergence (5)', exchanges };
        if (AVOID_KNOWN && unnamedPortalInFailedBlock(before, d, p)) return { kind: 'known divergence (6)', exchanges };
        if (AVOID_KNOWN && isolationAfterSnapshot(before, d, p)) return { kind: 'known divergence (8)', exchanges };
        return { kind: 'diverged', exchanges };
      }
      return { kind: 'same' };
    } finally {
      for (const c of connections) c.close();
      await pgtide.stop();
    }
  }

  /** Whether the sequence's last batch, and no earlier one, diverges. */
  async divergesAtEnd(batches: Batch[]): Promise<boolean> {
    if (this.stopping) return false;
    const outcome = await this.run(batches);
    return outcome.kind === 'diverged' && outcome.exchanges.length === batches.length;
  }

  /**
   * PostgreSQL restarts itself after a backend crash; when it does not come back, a new
   * topology replaces it.
   */
  private async recover(): Promise<void> {
    const deadline = Date.now() + RECOVERY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (
        await sqlOn(this.topology.primary, 'SELECT 1').then(
          () => true,
          () => false,
        )
      )
        return;
      await new Promise((r) => setTimeout(r, 500));
    }
    console.log('  PostgreSQL did not come back: starting a new one');
    await stopTopology(this.topology);
    this.topology = await startTopology({ standbys: 0 });
  }

  async stopTopology(): Promise<void> {
    await stopTopology(this.topology);
  }
}

/** Keeps taking a server for one-statement transactions until its connection closes. With
 *  FUZZ_UNNAMED_NOISE=1 it also runs its own unnamed statements and portals, recognisable by their
 *  text, and notes in `wrong` every answer that is not its own. */
async function makeNoise(c: RawConnection, id: number, wrong: string[]): Promise<void> {
  const select = query('SELECT 1');
  let n = 0;
  const text = (a: Answer) => [...a.messages, `(${a.end})`].join(' | ');
  while (!c.closed) {
    if (!UNNAMED_NOISE || n++ % 2 === 0) {
      await c.send(select, 1, BATCH_TIMEOUT_MS);
      continue;
    }
    const tag = `noise${id}-${n}`;
    const kind = n % 6;
    if (kind === 1 || kind === 3) {
      // Parse, Bind, Execute of the unnamed statement and portal in one batch.
      const bytes = Buffer.concat([
        parse('', `SELECT '${tag}'::text AS noise`),
        bind('', '', []),
        execute('', 0),
        sync(),
      ]);
      const a = await c.send(bytes, 1, BATCH_TIMEOUT_MS);
      const want = [
        'ParseComplete',
        'BindComplete',
        `DataRow("${tag}")`,
        'CommandComplete SELECT 1',
        'ReadyForQuery I',
      ];
      if (c.closed) return;
      if (text(a) !== [...want, '(ready)'].join(' | ')) wrong.push(`${tag} one batch: ${text(a)}`);
    } else if (kind === 5) {
      // Parse and Describe in one batch, Bind and Execute in the next (pgtide keeps a copy).
      const a1 = await c.send(
        Buffer.concat([parse('', `SELECT '${tag}'::text AS noise`), describe('S', ''), sync()]),
        1,
        BATCH_TIMEOUT_MS,
      );
      if (c.closed) return;
      if (a1.end !== 'ready' || a1.messages[0] !== 'ParseComplete') wrong.push(`${tag} parse: ${text(a1)}`);
      const a2 = await c.send(Buffer.concat([bind('', '', []), execute('', 0), sync()]), 1, BATCH_TIMEOUT_MS);
      if (c.closed) return;
      const ok = ['BindComplete', `DataRow("${tag}")`, 'CommandComplete SELECT 1', 'ReadyForQuery I', '(ready)'].join(
        ' | ',
      );
      if (text(a2) !== ok && !/^ErrorResponse ERROR 26000 /.test(a2.messages[0] ?? ''))
        wrong.push(`${tag} later bind: ${text(a2)}`);
    } else {
      // A big parameter, its Bind spanning reads.
      const size = 70_000 + ((n * 7919) % 200_000);
      const bytes = Buffer.concat([
        parse('', `SELECT '${tag}'::text AS noise, length($1::text) AS len`),
        bind('', '', ['z'.repeat(size)]),
        execute('', 0),
        sync(),
      ]);
      const a = await c.send(bytes, 1, BATCH_TIMEOUT_MS);
      if (c.closed) return;
      const want = [
        'ParseComplete',
        'BindComplete',
        `DataRow("${tag}", "${size}")`,
        'CommandComplete SELECT 1',
        'ReadyForQuery I',
        '(ready)',
      ];
      if (text(a) !== want.join(' | ')) wrong.push(`${tag} big: ${text(a).slice(0, 500)}`);
    }
  }
}

function sameAnswer(a: Answer, b: Answer): boolean {
  return a.end === b.end && a.messages.length === b.messages.length && a.messages.every((m, i) => m === b.messages[i]);
}

function* firstSteps(next: () => Batch, steps: number, seed: number): Generator<Batch> {
  const rnd = seededRandom(seed ^ 0x2545f491);
  // The cuts draw from a stream of their own: the same batches with the split mode on or off.
  const rndSplit = seededRandom(seed ^ 0x68e31da4);
  for (let i = 0; i < steps; i++) {
    let batch = next();
    if (PIPELINE && rnd() < 0.15) {
      const more = Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => next());
      i += more.length;
      batch = [batch, ...more].reduce((a, b) => ({
        desc: `${a.desc} || ${b.desc}`,
        hex: a.hex + b.hex,
        syncs: a.syncs + b.syncs,
      }));
    }
    if (SPLIT) batch = { ...batch, ...splitPoints(Buffer.from(batch.hex, 'hex'), rndSplit) };
    yield batch;
  }
}

/** 1-4 cuts (2-5 pieces) of a batch's bytes: at random, or a few bytes into a message (its
 *  header, its names), or 64 KiB (or a multiple) before such a point, so that pgtide's own reads
 *  of a long message that follows end there. Each piece is followed by a 0-2 ms pause. */
function splitPoints(bytes: Buffer, rnd: () => number): { cuts: number[]; pauses: number[] } {
  const starts: number[] = [];
  for (let at = 0; at + 5 <= bytes.length; at += 1 + bytes.readUInt32BE(at + 1)) starts.push(at);
  const cuts = new Set<number>();
  const count = 1 + Math.floor(rnd() * 4);
  for (let k = 0; k < count * 3 && cuts.size < count; k++) {
    const r = rnd();
    let at: number;
    if (r < 0.3) at = 1 + Math.floor(rnd() * (bytes.length - 1));
    else {
      const start = starts[Math.floor(rnd() * starts.length)]!;
      at = start + Math.floor(rnd() * 14);
      if (r > 0.65) at -= 65536 * (1 + Math.floor(rnd() * 4));
    }
    if (at > 0 && at < bytes.length) cuts.add(at);
  }
  const sorted = [...cuts].sort((a, b) => a - b);
  return { cuts: sorted, pauses: sorted.map(() => Math.floor(rnd() * 3)) };
}

/** `1-20`, `3,7,9` or a mix. */
function parseSeeds(text: string): number[] {
  return text.split(',').flatMap((part) => {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (!m) throw new Error(`FUZZ_SEEDS: "${part}" is not a seed or a range like 1-20`);
    const [from, to] = [Number(m[1]), Number(m[2] ?? m[1])];
    return Array.from({ length: to - from + 1 }, (_, i) => from + i);
  });
}

/** `firstStep`: the step number of the first exchange. */
function printExchanges(exchanges: Exchange[], firstStep = 1): void {
  exchanges.forEach(({ batch, direct, pooled }, i) => {
    console.log(`  ${firstStep + i}. ${batch.desc}`);
    const text = (a: Answer) =>
      [
        ...a.messages.map((m) => (m.length > 300 ? `${m.slice(0, 300)}…(${m.length})` : m)),
        ...(a.end === 'ready' ? [] : [`(${a.end})`]),
      ].join(' | ');
    if (batch.cuts)
      console.log(
        `       cuts at ${batch.cuts.join(',')} of ${batch.hex.length / 2} bytes, pauses ${batch.pauses!.join(',')} ms`,
      );
    if (sameAnswer(direct, pooled)) console.log(`       both:   ${text(direct)}`);
    else console.log(`       direct: ${text(direct)}\n       pgtide: ${text(pooled)}`);
  });
}

/** Shrinks a divergence, prints it with both answers and saves it. */
async function report(fuzzer: Fuzzer, seed: number, exchanges: Exchange[]): Promise<void> {
  const found = exchanges.map((e) => e.batch);
  const reduced = SHRINK_TRIES > 0 ? await shrink(found, (c) => fuzzer.divergesAtEnd(c), SHRINK_TRIES) : found;
  let shown = exchanges;
  let reproduced = 0;
  for (let i = 0; i < CONFIRM_RUNS; i++) {
    const outcome = await fuzzer.run(reduced);
    if (outcome.kind === 'diverged' && outcome.exchanges.length === reduced.length) {
      reproduced++;
      shown = outcome.exchanges;
    }
  }
  if (reproduced > 0) {
    console.log(
      `  shrunk from ${found.length} to ${reduced.length} batches; diverges in ${reproduced}/${CONFIRM_RUNS} replays:`,
    );
    printExchanges(shown);
  } else {
    // A divergence that needs the timing of the noise clients: keep the sequence as found.
    console.log(`  the shrunk sequence did not diverge again in ${CONFIRM_RUNS} replays; as found:`);
    printExchanges(exchanges.slice(-1), exchanges.length);
  }
  await mkdir(OUT_DIR, { recursive: true });
  const file = join(OUT_DIR, `seed-${seed}${AVOID_KNOWN ? '-avoid-known' : ''}.json`);
  await writeFile(file, JSON.stringify({ seed, avoidKnown: AVOID_KNOWN, found, reduced: shown }, null, 1));
  console.log(`  saved: ${file} (FUZZ_REPLAY=${file} replays it)`);
}

async function fuzz(fuzzer: Fuzzer): Promise<number> {
  const replay = process.env.FUZZ_REPLAY;
  if (replay) {
    const saved = JSON.parse(await readFile(replay, 'utf8')) as { reduced: Exchange[] };
    const outcome = await fuzzer.run(saved.reduced.map((e) => e.batch));
    console.log(`replay of ${replay}: ${outcome.kind}`);
    if (outcome.kind !== 'same') printExchanges(outcome.exchanges);
    return outcome.kind === 'diverged' ? 1 : 0;
  }
  const seeds = parseSeeds(process.env.FUZZ_SEEDS || '1-10');
  console.log(
    `fuzzing seeds ${seeds[0]}..${seeds.at(-1)} (${seeds.length}), ${STEPS} steps each${AVOID_KNOWN ? ', known divergences avoided' : ''}`,
  );
  let diverged = 0;
  for (const seed of seeds) {
    if (fuzzer.stopping) break;
    const options = { avoidKnown: AVOID_KNOWN, protocolNamesInSql: PROTOCOL_NAMES_IN_SQL, big: BIG };
    const outcome = await fuzzer.run(firstSteps(generator(seed, options), STEPS, seed));
    const at = outcome.kind === 'same' ? '' : ` at step ${outcome.exchanges.length}`;
    console.log(`seed ${seed}: ${outcome.kind === 'same' ? 'ok' : outcome.kind}${at}`);
    if (outcome.kind === 'noise diverged') {
      diverged++;
      printExchanges(outcome.exchanges.slice(-3), outcome.exchanges.length - 2);
      await mkdir(OUT_DIR, { recursive: true });
      const file = join(OUT_DIR, `seed-${seed}-noise.json`);
      await writeFile(file, JSON.stringify({ seed, reduced: outcome.exchanges }, null, 1));
      console.log(`  saved: ${file}`);
    }
    if (outcome.kind === 'diverged') {
      diverged++;
      await report(fuzzer, seed, outcome.exchanges);
    }
  }
  console.log(diverged === 0 ? 'no divergence' : `${diverged} seed(s) diverged`);
  return diverged === 0 ? 0 : 1;
}

async function main(): Promise<number> {
  const cleanup = new Cleanup();
  try {
    console.log('starting PostgreSQL (primary)…');
    const topology = await startTopology({ standbys: 0 });
    const dir = await mkdtemp(join(tmpdir(), 'pgtide-fuzz-'));
    cleanup.add('remove the scratch directory', () => rm(dir, { recursive: true, force: true }));
    const fuzzer = new Fuzzer(topology, dir, (await freePorts(1))[0]!);
    cleanup.add('stop PostgreSQL', () => fuzzer.stopTopology());
    const onSignal = () => (fuzzer.stopping = true);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    return await fuzz(fuzzer);
  } finally {
    await cleanup.runAll();
  }
}

process.exitCode = await main();
