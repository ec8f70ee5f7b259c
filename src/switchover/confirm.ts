import { createInterface } from 'node:readline/promises';
import { ExitCode, FerryError } from '../errors.js';

/**
 * Shows the plan and asks for "yes" on a terminal. Without a terminal there
 * is nobody to ask: the command refuses unless --yes was given, rather than
 * fence a production database on a guess.
 */
export async function askToConfirm(plan: string, yes: boolean): Promise<boolean> {
  process.stderr.write(`${plan}\n`);
  if (yes) return true;
  if (!process.stdin.isTTY) {
    throw new FerryError('FERRY_SWITCHOVER_UNCONFIRMED', 'switchover needs confirmation and there is no terminal to ask: nothing was changed',
      'pass --yes to run it without asking', { exitCode: ExitCode.usage });
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return (await rl.question('Type "yes" to switch over: ')).trim().toLowerCase() === 'yes';
  } finally {
    rl.close();
  }
}
