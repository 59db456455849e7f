export type {
  Classification,
  Isolation,
  Route,
  SessionState,
  SettingChange,
  StatementKind,
} from './classification.js';
export { STATEMENT_KINDS, resultShapeChecked, someStatement, UNSEEN_STATEMENT } from './classification.js';
export { Classifier, type ClassifierOptions, type ClassifierStats, type TreeParser } from './classifier.js';
export { FunctionPolicy, VOLATILITY_TTL_MS, isBuiltinRead, type FunctionPolicyOptions } from './functions.js';
export { isCatalogName } from './query-scan.js';
// The grammar itself (libpg-query, which reserves 128 MiB for its WASM memory once imported)
// loads in the parser thread only: src/parser-thread-main.ts imports it from parse-tree.js.
export type { ParseAnswer } from './parse-tree.js';
