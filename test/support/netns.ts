// A second client address for tests: a network namespace joined to this host by a veth pair.
// The host side gets 10.213.N.1/30, the namespace side 10.213.N.2/30, so a client run inside
// the namespace connects from an address that is neither loopback nor one of the host's.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Netns {
  name: string;
  /** The host's address on the pair: where servers must listen. */
  hostAddress: string;
  /** The client's address inside the namespace. */
  clientAddress: string;
  /** argv prefix that runs a program inside the namespace. */
  exec: string[];
  remove(): Promise<void>;
}

/** The namespace, or the reason it cannot be made here (no `ip`, not root, no netns support). */
export async function createNetns(): Promise<Netns | string> {
  const id = process.pid % 10_000;
  const subnet = process.pid % 250;
  const name = `pgtide-hba-${id}`;
  const hostLink = `pth${id}`;
  const nsLink = `ptn${id}`;
  const hostAddress = `10.213.${subnet}.1`;
  const clientAddress = `10.213.${subnet}.2`;
  const remove = async () => {
    // Deleting the namespace deletes its end of the pair, and with it the host's end.
    await run('ip', ['netns', 'del', name]).catch(() => {});
    await run('ip', ['link', 'del', hostLink]).catch(() => {});
  };
  await remove(); // leftovers of a crashed run with the same pid
  try {
    await run('ip', ['netns', 'add', name]);
    await run('ip', ['link', 'add', hostLink, 'type', 'veth', 'peer', 'name', nsLink]);
    await run('ip', ['link', 'set', nsLink, 'netns', name]);
    await run('ip', ['addr', 'add', `${hostAddress}/30`, 'dev', hostLink]);
    await run('ip', ['link', 'set', hostLink, 'up']);
    const inNs = (...args: string[]) => run('ip', ['netns', 'exec', name, 'ip', ...args]);
    await inNs('addr', 'add', `${clientAddress}/30`, 'dev', nsLink);
    await inNs('link', 'set', nsLink, 'up');
    await inNs('link', 'set', 'lo', 'up');
  } catch (err) {
    await remove();
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    return e.code === 'ENOENT'
      ? 'the `ip` program is missing'
      : `cannot make a network namespace: ${(e.stderr ?? e.message).trim()}`;
  }
  return { name, hostAddress, clientAddress, exec: ['ip', 'netns', 'exec', name], remove };
}
