// The import rules and the cycle check of biome.jsonc, run on small fixture trees laid out like
// src/: each rule must flag what it forbids (so `npm run lint`, and with it CI, fails) and let
// through what the pooler is allowed to do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Compiled to dist/test/unit/: the repository is three levels up.
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BIOME = join(ROOT, 'node_modules', '@biomejs', 'biome', 'bin', 'biome');

interface Finding {
  file: string;
  line: number;
  rule: string;
}

/** Lints `files` (path -> text) laid out under a fresh folder with the project's biome.jsonc. */
function lint(files: Record<string, string>): { status: number | null; findings: Finding[]; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'pgtide-lint-'));
  try {
    copyFileSync(join(ROOT, 'biome.jsonc'), join(dir, 'biome.jsonc'));
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    const run = spawnSync(
      process.execPath,
      [BIOME, 'lint', '--error-on-warnings', '--colors=off', '--max-diagnostics=none'],
      {
        cwd: dir,
        encoding: 'utf8',
      },
    );
    const output = run.stdout + run.stderr;
    const findings: Finding[] = [];
    for (const match of output.matchAll(/^(\S+\.ts):(\d+):\d+ lint\/\w+\/(\w+)/gm)) {
      findings.push({ file: match[1] ?? '', line: Number(match[2]), rule: match[3] ?? '' });
    }
    return { status: run.status, findings, output };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const flagged = (findings: Finding[], file: string, rule = 'noRestrictedImports') =>
  findings.filter((f) => f.file === file && f.rule === rule).map((f) => f.line);

const lintScript = (): string =>
  (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts[
    'lint'
  ] ?? '';

test('npm run lint is biome check (lint rules and formatting) with warnings as errors', () => {
  assert.match(lintScript(), /^biome check --error-on-warnings$/);
});

test('a file the formatter would change fails npm run lint; the same file formatted passes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgtide-format-'));
  try {
    copyFileSync(join(ROOT, 'biome.jsonc'), join(dir, 'biome.jsonc'));
    mkdirSync(join(dir, 'src'));
    const args = [BIOME, ...lintScript().split(' ').slice(1), '--colors=off'];
    const run = () => spawnSync(process.execPath, args, { cwd: dir, encoding: 'utf8' });
    writeFileSync(join(dir, 'src', 'a.ts'), 'export const a = {b:1,  c: "two"}\n');
    const unformatted = run();
    assert.notEqual(unformatted.status, 0, unformatted.stdout + unformatted.stderr);
    assert.match(unformatted.stdout + unformatted.stderr, /format/);
    writeFileSync(join(dir, 'src', 'a.ts'), "export const a = { b: 1, c: 'two' };\n");
    const formatted = run();
    assert.equal(formatted.status, 0, formatted.stdout + formatted.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a tree that keeps the rules passes', () => {
  const { status, findings, output } = lint({
    'src/protocol/types.ts': 'export const Sync = 0x53;\n',
    'src/protocol/decode.ts':
      "import { Sync } from './types.js';\nexport const isSync = (b: number): boolean => b === Sync;\n",
    // node:net's isIP is pure; node:crypto and node:path do no I/O.
    'src/auth/address.ts':
      "import { isIP } from 'node:net';\nimport { createHash } from 'node:crypto';\nimport { join } from 'node:path';\n" +
      'export const f = [isIP, createHash, join];\n',
    'src/sql/lex.ts': "import { isSync } from '../protocol/decode.js';\nexport const lex = isSync;\n",
    'src/config/load.ts':
      "import { readFileSync } from 'node:fs';\nimport { f } from '../auth/address.js';\nexport const load = [readFileSync, f];\n",
    'src/cluster/monitor.ts': "import { load } from '../config/load.js';\nexport const monitor = load;\n",
    'src/proxy/session.ts':
      "import { connect } from 'node:net';\nimport { monitor } from '../cluster/monitor.js';\nimport { lex } from '../sql/lex.js';\n" +
      'export const session = [connect, monitor, lex];\n',
    // Type-only imports do not make a cycle: tsc erases them.
    'src/server.ts': "import { session } from './proxy/session.js';\nexport class Pgtide {\n  s = session;\n}\n",
    'src/admin/console.ts':
      "import type { Pgtide } from '../server.js';\nexport const show = (p: Pgtide): unknown => p.s;\n",
    'test/unit/x.test.ts': "import { session } from '../../src/proxy/session.js';\nexport const t = session;\n",
  });
  assert.deepEqual(findings, [], output);
  assert.equal(status, 0, output);
});

test('src never imports test/, bench/ or dev/', () => {
  const { status, findings, output } = lint({
    'src/server.ts': "import { a } from '../test/support/topology.js';\nexport const s = a;\n",
    'src/proxy/session.ts': "import { b } from '../../bench/report.js';\nexport const s = b;\n",
    'src/sql/lex.ts': "import { c } from '../../dev/demo.js';\nexport const s = c;\n",
    'src/config/load.ts': "import type { D } from '../../test/support/pgtide.js';\nexport type S = D;\n",
  });
  assert.notEqual(status, 0);
  assert.deepEqual(flagged(findings, 'src/server.ts'), [1], output);
  assert.deepEqual(flagged(findings, 'src/proxy/session.ts'), [1], output);
  assert.deepEqual(flagged(findings, 'src/sql/lex.ts'), [1], output);
  assert.deepEqual(flagged(findings, 'src/config/load.ts'), [1], output);
});

test('protocol, sql and auth import no I/O module', () => {
  const { status, findings, output } = lint({
    'src/protocol/io.ts':
      "import { readFileSync } from 'node:fs';\nimport { connect } from 'node:tls';\nimport { spawn } from 'node:child_process';\n" +
      "import { createSocket } from 'node:dgram';\nimport { request } from 'node:http';\nimport { createServer } from 'node:net';\n" +
      "export const io = [readFileSync, connect, spawn, createSocket, request, createServer, await import('node:fs/promises')];\n",
    'src/sql/io.ts': "import { connect } from 'net';\nexport const io = connect;\n",
    'src/auth/io.ts': "import { readFile } from 'node:fs/promises';\nexport const io = readFile;\n",
  });
  assert.notEqual(status, 0);
  assert.deepEqual(flagged(findings, 'src/protocol/io.ts'), [1, 2, 3, 4, 5, 6, 7], output);
  assert.deepEqual(flagged(findings, 'src/sql/io.ts'), [1], output);
  assert.deepEqual(flagged(findings, 'src/auth/io.ts'), [1], output);
});

test('protocol, sql and auth import nothing from proxy, pool, cluster or admin', () => {
  const { status, findings, output } = lint({
    'src/protocol/up.ts':
      "import { a } from '../proxy/session.js';\nimport type { B } from '../pool/pool.js';\nexport * from '../cluster/monitor.js';\n" +
      "export { d } from '../admin/console.js';\nexport const up: B = a;\n",
    'src/sql/up.ts': "import { a } from '../server.js';\nexport const up = a;\n",
    'src/auth/up.ts': "import type { A } from '../admin/metrics.js';\nexport type Up = A;\n",
  });
  assert.notEqual(status, 0);
  assert.deepEqual(flagged(findings, 'src/protocol/up.ts'), [1, 2, 3, 4], output);
  assert.deepEqual(flagged(findings, 'src/sql/up.ts'), [1], output);
  assert.deepEqual(flagged(findings, 'src/auth/up.ts'), [1], output);
});

test('config imports nothing from cluster, proxy, pool or admin', () => {
  const { status, findings, output } = lint({
    'src/config/validate.ts':
      "import { parse } from '../cluster/redirect-list.js';\nimport type { R } from '../proxy/router.js';\nexport const v: R = parse;\n",
    'src/config/import/map.ts':
      "import { p } from '../../pool/pool.js';\nimport { s } from '../../server.js';\nexport const m = [p, s];\n",
  });
  assert.notEqual(status, 0);
  assert.deepEqual(flagged(findings, 'src/config/validate.ts'), [1, 2], output);
  assert.deepEqual(flagged(findings, 'src/config/import/map.ts'), [1, 2], output);
});

test('an import cycle fails, across folders too', () => {
  const { status, findings, output } = lint({
    'src/pool/pool.ts': "import { session } from '../proxy/session.js';\nexport const pool = (): unknown => session;\n",
    'src/proxy/session.ts': "import { link } from './link.js';\nexport const session = (): unknown => link;\n",
    'src/proxy/link.ts': "import { pool } from '../pool/pool.js';\nexport const link = (): unknown => pool;\n",
  });
  assert.notEqual(status, 0);
  for (const file of ['src/pool/pool.ts', 'src/proxy/session.ts', 'src/proxy/link.ts']) {
    assert.deepEqual(flagged(findings, file, 'noImportCycles'), [1], output);
  }
});
