import { readFileSync } from 'node:fs';
import { TomlError, parse } from 'smol-toml';
import { readDocument } from './document.js';
import { readEnv } from './env.js';
import { keyLines } from './locate.js';
import { ConfigError, toProblems, type Issue, type Path, type Problem } from './problems.js';
import type { Config } from './types.js';
import { configIssues } from './validate.js';

export { ConfigError, type Problem } from './problems.js';
export { validateConfig } from './validate.js';

/** Parses native TOML text into a Config on top of the defaults. Throws one ConfigError that
 *  lists every problem (unknown keys, wrong types, out-of-range values) with its line. */
export function parseConfig(text: string, source?: string): Config {
  const { config, problems } = readText(text);
  if (problems.length > 0) throw new ConfigError(problems, source);
  return config;
}

/** Applies INSTANCE_NAME and PGTIDE_<KEY> variables on top of a Config. */
export function applyEnv(config: Config, env: NodeJS.ProcessEnv): Config {
  const { values, issues } = readEnv(env);
  if (issues.length > 0) throw new ConfigError(toProblems(issues), 'environment');
  return { ...config, ...values };
}

/** Reads the file (if a path is given), applies the environment, and validates the result;
 *  every problem of the three steps is reported together. */
export function loadConfig(path: string | undefined, env: NodeJS.ProcessEnv = process.env): Config {
  const text = path === undefined ? undefined : readConfigFile(path);
  const file = text === undefined ? { config: readDocument({}, []), problems: [], keys: new Set() } : readText(text);
  const overrides = readEnv(env);
  const problems = [...file.problems, ...toProblems(overrides.issues)];
  if (problems.length > 0) throw new ConfigError(problems, path);

  const config = { ...file.config, ...overrides.values };
  const lineOf = text === undefined ? undefined : keyLines(text);
  // A line in the file is no help for a key whose value came from the environment.
  const fromFile = (path: Path): number | undefined =>
    Object.hasOwn(overrides.values, path[0]!) ? undefined : lineOf?.(path);
  const peerIdGiven = file.keys.has('peer_id') || Object.hasOwn(overrides.values, 'peer_id');
  const invalid = [...configIssues(config), ...unsetPeerId(config, peerIdGiven)];
  if (invalid.length > 0) throw new ConfigError(toProblems(invalid, fromFile), path);
  return config;
}

/** With [[peers]] listed, an instance left at the default peer_id 0 (one file for every
 *  instance, its PGTIDE_PEER_ID forgotten) would hand out another instance's keys, or keys no
 *  list names: cancels through the other instances would be lost. Only an explicit id is
 *  trusted; a Config built in code (validateConfig) always has one. */
function unsetPeerId(config: Config, given: boolean): Issue[] {
  if (given || config.peers.length === 0) return [];
  return [
    {
      path: ['peer_id'],
      message:
        "is not set, but [[peers]] are listed: set peer_id or PGTIDE_PEER_ID to this instance's id (one of the list's, or an id of its own)",
    },
  ];
}

/** The file's Config, its problems, and the top-level keys it sets. */
function readText(text: string): { config: Config; problems: Problem[]; keys: Set<string> } {
  let document: unknown;
  try {
    document = parse(text);
  } catch (error) {
    if (!(error instanceof TomlError)) throw error;
    return {
      config: readDocument({}, []),
      problems: [{ key: '', line: error.line, message: tomlSyntaxMessage(error) }],
      keys: new Set(),
    };
  }
  const issues: Issue[] = [];
  const config = readDocument(document, issues);
  return { config, problems: toProblems(issues, keyLines(text)), keys: new Set(Object.keys(document as object)) };
}

/** smol-toml's message quotes the offending lines, which may hold a password: keep only its
 *  first line, the description. */
function tomlSyntaxMessage(error: TomlError): string {
  const description = error.message.split('\n', 1)[0]!.replace(/^Invalid TOML document: /, '');
  return `invalid TOML at column ${error.column}: ${description}`;
}

function readConfigFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConfigError([{ key: '', message: `cannot read the configuration file: ${reason}` }], path);
  }
}
