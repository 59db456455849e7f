// V8 makes new objects in a young generation whose two semi-spaces grow, on a machine with
// this much memory, up to 64 MiB each when many objects survive, and a pooler's sessions all
// do: logging in 19,500 clients grew pgtide's young generation from 16 to 128 MiB, and it
// stays committed, about 5 KiB per client. A pooler makes little garbage per transaction, so
// a small young generation costs it no CPU that bench/ can measure (bench/RESULTS.md): every
// pooler process runs with one, unless its operator chose a size (NODE_OPTIONS, or node's own
// arguments) as docs/tuning.md describes.

export const SEMI_SPACE_MIB = 4;

const FLAG = '--max-semi-space-size';

/** V8 takes its flags with '-' or '_' between words. */
function isSemiSpaceFlag(arg: string): boolean {
  const name = arg.replaceAll('_', '-');
  return name === FLAG || name.startsWith(`${FLAG}=`);
}

/** An operator's own choice, in node's arguments or in NODE_OPTIONS. */
export function chosenSemiSpace(execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  return execArgv.some(isSemiSpaceFlag) || (nodeOptions ?? '').split(/\s+/).some(isSemiSpaceFlag);
}

/**
 * The Node.js arguments a pooler process is spawned with (by the supervisor or the workers'
 * primary): the size this process runs with when its operator gave one in its arguments,
 * nothing when NODE_OPTIONS gives it (the child inherits that), else the cap.
 */
export function youngGenerationArgs(execArgv: readonly string[], nodeOptions: string | undefined): string[] {
  const at = execArgv.findIndex(isSemiSpaceFlag);
  if (at >= 0) return execArgv.slice(at, execArgv[at]!.includes('=') ? at + 1 : at + 2);
  if (chosenSemiSpace([], nodeOptions)) return [];
  return [`${FLAG}=${SEMI_SPACE_MIB}`];
}

/**
 * A pooler started directly (`pgtide start`, not by a supervisor) without a size runs itself
 * again with the cap: the same process, pid and descriptors (execve), before it has read or
 * opened anything. Where execve is missing (Windows) it runs on with V8's default.
 */
export function execWithYoungGenerationCap(): void {
  // A spawned pooler gets its size from its parent; its IPC descriptor must not be re-opened.
  if (process.env['NODE_CHANNEL_FD'] !== undefined) return;
  if (chosenSemiSpace(process.execArgv, process.env['NODE_OPTIONS'])) return;
  if (typeof process.execve !== 'function') return;
  process.execve(
    process.execPath,
    [process.execPath, `${FLAG}=${SEMI_SPACE_MIB}`, ...process.execArgv, ...process.argv.slice(1)],
    process.env,
  );
}
