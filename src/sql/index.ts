export type {
  Classification,
  Isolation,
  Route,
  SessionState,
  SettingChange,
  StatementKind,
} from './classification.js';
export { STATEMENT_KINDS, UNSEEN_STATEMENT } from './classification.js';
export { Classifier, type ClassifierOptions, type ClassifierStats } from './classifier.js';
export { FunctionPolicy, type FunctionPolicyOptions } from './functions.js';
export { loadParser } from './parse-tree.js';
