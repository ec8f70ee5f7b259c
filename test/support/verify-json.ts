import assert from 'node:assert/strict';
import type { TableReport, VerifyReport } from '../../src/verify/verify-report.js';
import { cliRun, type CliResult } from './harness.js';

/** `ferry verify --json` through the real CLI; an exit other than 0 or 1 fails the test. */
export async function verifyJson(config: string, ...args: string[]): Promise<{ res: CliResult; report: VerifyReport }> {
  const res = await cliRun(['verify', '-c', config, '--json', ...args]);
  assert.ok(res.code === 0 || res.code === 1, `verify failed (exit ${res.code}): ${res.stderr}`);
  return { res, report: JSON.parse(res.stdout) as VerifyReport };
}

export function tableOf(report: VerifyReport, name: string): TableReport {
  const t = report.tables.find((x) => x.table === name);
  assert.ok(t, `no report for ${name} in ${report.tables.map((x) => x.table).join(', ')}`);
  return t;
}
