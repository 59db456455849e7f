// Prints the functions with the most self time in a V8 .cpuprofile (as written by
// `node --cpu-prof`, or by `BENCH_CPU_PROFILE_DIR=<dir> npm run bench` for pgtide).
// Usage: node dist/bench/cpuprofile-top.js <file.cpuprofile> [count]
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  location: string;
  micros: number;
  share: number;
}

/** Self time per function (same name and source line), largest first. */
export function topSelfTime(profile: CpuProfile, count: number): SelfTime[] {
  const locationOf = new Map<number, string>();
  for (const { id, callFrame: f } of profile.nodes) {
    const file = f.url ? relative(process.cwd(), f.url.replace(/^file:\/\//, '')) : '';
    locationOf.set(id, `${f.functionName || '(anonymous)'}${file ? ` ${file}:${f.lineNumber + 1}` : ''}`);
  }
  const micros = new Map<string, number>();
  let total = 0;
  // timeDeltas[i] is the time since the previous sample: V8 charges it to samples[i].
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    const location = locationOf.get(id) ?? `(unknown node ${id})`;
    micros.set(location, (micros.get(location) ?? 0) + delta);
    total += delta;
  });
  return [...micros]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([location, us]) => ({ location, micros: us, share: total > 0 ? us / total : 0 }));
}

function cli(argv: string[]): void {
  const [file, count = '25'] = argv;
  if (!file) throw new Error('usage: cpuprofile-top <file.cpuprofile> [count]');
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  for (const row of topSelfTime(profile, Number(count))) {
    console.log(
      `${(row.share * 100).toFixed(1).padStart(5)} %  ${(row.micros / 1000).toFixed(0).padStart(7)} ms  ${row.location}`,
    );
  }
}

if (import.meta.url === `file://${process.argv[1]}`) cli(process.argv.slice(2));
