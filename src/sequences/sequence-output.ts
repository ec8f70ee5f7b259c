import { formatTable } from '../cli/output.js';
import type { SequenceState, SequenceSyncResult } from './sync-sequences.js';

/** `sync-sequences` output: one line per sequence; a value not handed out yet (is_called false) is marked. */
export function formatSequences(results: readonly SequenceSyncResult[]): string {
  if (results.length === 0) return 'the configured tables use no sequences';
  const value = (s: SequenceState | null) => (s === null ? '-' : s.isCalled ? s.value : `${s.value} (unused)`);
  return formatTable(['sequence', 'source value', 'target value'], results.map((r) => [
    r.target && r.target !== r.sequence ? `${r.sequence} -> ${r.target}` : r.sequence,
    value(r.source),
    r.error ? `failed: ${r.error.code}` : value(r.after),
  ]));
}

/** `sync-sequences --json`: the results with each error as its one-line description. */
export function sequencesJson(results: readonly SequenceSyncResult[]): unknown {
  return results.map(({ error, ...r }) => ({ ...r, error: error?.describe() ?? null }));
}
