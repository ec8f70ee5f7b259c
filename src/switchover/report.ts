import { formatTable } from '../cli/output.js';
import { describeFence, liftStatements, type FenceRecord } from './fence.js';
import type { SwitchoverPlan } from './preflight.js';
import type { ReverseGroup } from './reverse.js';
import type { StepTiming } from './state.js';

export interface SwitchoverReport {
  readonly switchedOver: true;
  readonly id: number;
  readonly groups: readonly string[];
  readonly fence: FenceRecord;
  /** The source stays fenced (it is the old primary now); these statements lift it by hand. */
  readonly liftFence: readonly string[];
  /** The marker every group applied before the target was finished. */
  readonly drainedAt: string | null;
  readonly steps: readonly StepTiming[];
  /** From the fence going up to the target being ready (the forward groups retired). */
  readonly writeUnavailableSeconds: number;
  readonly sequences: number;
  readonly foreignKeys: number;
  readonly verified: boolean;
  readonly reverse: { readonly config: string; readonly groups: readonly ReverseGroup[] } | null;
}

export function formatPlan(plan: SwitchoverPlan, resumingId: number | undefined): string {
  const lines = [
    resumingId === undefined ? 'ferry switchover will:' : `ferry switchover will continue switchover ${resumingId}, which stopped in the middle:`,
    `  1. fence writes on the source: ${describeFence(plan.fence)}`,
    `  2. drain: wait until every group (${plan.groups.map((g) => g.group).join(', ')}) has applied everything up to the fence`,
    `  3. ${plan.verify ? 'verify every group at the fenced point; any difference stops here and lifts the fence' : 'no verify (--no-verify)'}`,
    `  4. finish the target: ${plan.sequences.length} sequence(s) set exactly, ${plan.foreignKeys.length} foreign key(s) created and validated`,
    ...plan.foreignKeys.map((k) => `       ${k.table}: ${k.name} ${k.definition}`),
    plan.reverseConfig ? `  5. reverse: the same groups from the target back to the source, starting at the switchover point; configuration ${plan.reverseConfig}` : '  5. no reverse stream (--reverse not given)',
    '  6. retire the forward groups (slots dropped on the source): the target is the primary; the source stays fenced',
    'Before step 6, a failure or --timeout lifts the fence and leaves the standby streaming.',
  ];
  return lines.join('\n');
}

export function formatReport(report: SwitchoverReport): string {
  const rows = report.steps.map((s) => [s.step, s.seconds.toFixed(2), s.detail ?? '']);
  return [
    `switched over: groups ${report.groups.join(', ')} now have their primary on the target (switchover ${report.id})`,
    formatTable(['step', 'seconds', 'detail'], rows),
    `writes unavailable: ${report.writeUnavailableSeconds.toFixed(2)} s (fence to target ready)`,
    report.reverse ? `reverse stream ready: run "ferry run -c ${report.reverse.config}"; switch back with "ferry switchover -c ${report.reverse.config}"` : 'no reverse stream',
    `point the applications at the target now. The source stays fenced (${report.fence.mode})${report.liftFence.length > 0 ? `; to lift it by hand: ${report.liftFence.join('; ')}` : ''}`,
    'stop the "ferry run" of this configuration: its groups are retired.',
  ].join('\n');
}

export { liftStatements };
