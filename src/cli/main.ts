#!/usr/bin/env node
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { loadConfig } from '../config/load.js';
import { selectGroups } from '../config/select-groups.js';
import { listenAddress, type FerryConfig } from '../config/schema.js';
import { ExitCode, FerryError } from '../errors.js';
import { dropGroups } from '../init/drop.js';
import { runDdl } from '../ddl/run-ddl.js';
import { resync } from '../init/resync.js';
import { createLogger, type LogFormat, type LogLevel, type Logger } from '../observe/logger.js';
import { collectStatus } from '../observe/status.js';
import { runGroups } from '../run/run-groups.js';
import { formatSequences, sequencesJson } from '../sequences/sequence-output.js';
import { syncAllSequences, throwIfFailed } from '../sequences/sync-sequences.js';
import { waitForCatchUp } from '../run/wait.js';
import { parseTableList } from '../verify/table-list.js';
import { asVerifyError } from '../verify/verify.js';
import { sourceDatabaseOf } from '../source/source-database.js';
import { formatVerifyReport } from '../verify/verify-output.js';
import { askToConfirm } from '../switchover/confirm.js';
import { parseFence } from '../switchover/fence.js';
import { formatReport } from '../switchover/report.js';
import { abortSwitchover, switchover } from '../switchover/switchover.js';
import { formatStatus, formatTable } from './output.js';

interface GlobalOptions {
  readonly config: string;
  /** `--group a,b`, for the commands that take it. */
  readonly group?: string;
  readonly json?: boolean;
  readonly logLevel?: LogLevel;
  readonly logFormat?: LogFormat;
}

async function setup(options: GlobalOptions): Promise<{ config: FerryConfig; log: Logger }> {
  const config = selectGroups(await loadConfig(options.config), options.group);
  const log = createLogger(options.logLevel ?? config.log.level, options.logFormat ?? config.log.format);
  return { config, log };
}

function print(options: { json?: boolean }, value: unknown, text: string): void {
  process.stdout.write(options.json ? `${JSON.stringify(value, null, 2)}\n` : `${text}\n`);
}

function wholeNumber(min: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`expected a whole number of at least ${min}`);
    return n;
  };
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a number of seconds');
  return n;
}

function listenOption(value: string): string {
  const parsed = listenAddress.safeParse(value);
  if (!parsed.success) throw new InvalidArgumentError('expected HOST:PORT, e.g. 127.0.0.1:9187');
  return parsed.data;
}

/** SIGINT/SIGTERM end the run gracefully; a second one exits at once (the target's position is exact anyway). */
function stopSignal(log: Logger): AbortSignal {
  const controller = new AbortController();
  const onSignal = (name: string) => {
    if (controller.signal.aborted) process.exit(ExitCode.failure);
    log.info({ signal: name }, 'stopping: finishing the batch in flight');
    controller.abort();
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  return controller.signal;
}

/** `outcome.exitCode` is how a command that ran to the end answers (verify: 1 when source and target differ). */
export function buildProgram(outcome: { exitCode: ExitCode } = { exitCode: ExitCode.ok }): Command {
  const program = new Command('ferry')
    .description('Logical standby for PostgreSQL: copy chosen tables to a target and keep them current in commit order.')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(str) });

  const withConfig = (cmd: Command) => cmd
    .requiredOption('-c, --config <file>', 'configuration file (YAML)')
    .addOption(new Option('--log-level <level>', 'log level').choices(['trace', 'debug', 'info', 'warn', 'error']))
    .addOption(new Option('--log-format <format>', 'log format').choices(['auto', 'json', 'pretty']));

  withConfig(program.command('init'))
    .description('check prerequisites, create slots, publications and target tables, copy existing rows')
    .option('--json', 'machine-readable output')
    .action(async (options: GlobalOptions) => {
      const { config, log } = await setup(options);
      const summary = await sourceDatabaseOf(config).init(config, log);
      print(options, summary, formatTable(['group', 'result', 'tables', 'rows copied', 'start position'],
        summary.map((s) => [s.group, s.action, String(s.tables), String(s.rows), s.position])));
    });

  withConfig(program.command('run'))
    .description('stream every group (or those --group names) until SIGINT or SIGTERM')
    .option('--group <list>', 'only these groups, comma-separated (another process may run the others)')
    .option('--listen <host:port>', 'serve /metrics, /status, /healthz and the dashboard here (overrides observe.listen)', listenOption)
    .action(async (options: GlobalOptions & { listen?: string }) => {
      const { config: loaded, log } = await setup(options);
      const config = options.listen === undefined ? loaded : { ...loaded, observe: { ...loaded.observe, listen: options.listen } };
      const failed = await runGroups(config, log, stopSignal(log));
      if (failed.length > 0) {
        throw new FerryError('FERRY_RUN_FAILED', `${failed.length} group(s) stopped with an error:\n  ${failed.map((e) => e.describe()).join('\n  ')}`);
      }
      log.info('stopped');
    });

  withConfig(program.command('status'))
    .description('per group: state, positions, lag, rows applied, last error')
    .option('--group <list>', 'only these groups, comma-separated')
    .option('--json', 'machine-readable output')
    .action(async (options: GlobalOptions) => {
      const { config } = await setup(options);
      const status = await collectStatus(config);
      print(options, status, formatStatus(status));
    });

  withConfig(program.command('wait'))
    .description('wait until every group has applied what the source had committed when the command started')
    .option('--timeout <seconds>', 'give up after this long (exit 3)', positiveNumber)
    .option('--json', 'machine-readable output')
    .action(async (options: GlobalOptions & { timeout?: number }) => {
      const { config } = await setup(options);
      const position = await waitForCatchUp(config, options.timeout);
      print(options, { caughtUp: true, position }, `all groups have applied the source up to ${position}`);
    });

  withConfig(program.command('sync-sequences'))
    .description('set every target sequence to its source value exactly (the last step of a switchover, after "wait")')
    .option('--json', 'machine-readable output')
    .action(async (options: GlobalOptions) => {
      const { config } = await setup(options);
      const results = await syncAllSequences(config, { mode: 'exact' }, 'ferry:sync-sequences');
      print(options, sequencesJson(results), formatSequences(results));
      throwIfFailed(results);
    });

  withConfig(program.command('verify'))
    .description('compare source and target row by row at a common point; exit 0 equal, 1 different, 2 error')
    .option('--tables <list>', 'only these tables, comma-separated schema.table (patterns with *)')
    .option('--limit <n>', 'keys to list per kind of difference', wholeNumber(0), 10)
    .option('--parallel <n>', 'connections per side (default: copy.parallel)', wholeNumber(1))
    .option('--timeout <seconds>', 'how long running groups may take to catch up with the source snapshot', positiveNumber, 300)
    .option('--json', 'machine-readable output')
    .action(async (options: GlobalOptions & { tables?: string; limit: number; parallel?: number; timeout: number }) => {
      try {
        const { config, log } = await setup(options);
        const report = await sourceDatabaseOf(config).verify(config, {
          tables: options.tables === undefined ? undefined : parseTableList(options.tables),
          limit: options.limit, parallel: options.parallel ?? config.copy.parallel, timeoutSeconds: options.timeout,
        }, log);
        print(options, report, formatVerifyReport(report));
        if (!report.equal) outcome.exitCode = ExitCode.failure;
      } catch (err) {
        throw asVerifyError(err);
      }
    });

  withConfig(program.command('switchover'))
    .description('make the target the primary: fence writes on the source, drain, finish and verify the target, optionally start the reverse stream')
    .option('--fence <how>', 'roles:NAME[,NAME…] (read-only, NOLOGIN, sessions ended), database (read-only for every role but Ferry\'s), or none (writers stopped already)', 'none')
    .option('--timeout <seconds>', 'give up before the point of no return after this long, lifting the fence (exit 3)', positiveNumber, 300)
    .option('--max-lag <seconds>', 'preflight: every group must lag less than this', positiveNumber, 60)
    .option('--reverse', 'also create groups from the target back to the source, for a rollback, and write <config>.reverse.yaml')
    .option('--no-verify', 'skip comparing source and target at the fenced point')
    .option('--abort', 'undo a switchover left in the middle (before its point of no return): lift the fence')
    .option('--yes', 'do not ask for confirmation')
    .option('--json', 'machine-readable output')
    .action(async (options: GlobalOptions & { fence: string; timeout: number; maxLag: number; reverse?: boolean; verify: boolean; abort?: boolean; yes?: boolean }) => {
      const { config, log } = await setup(options);
      if (options.abort) {
        const undone = await abortSwitchover(config, log);
        print(options, { aborted: true, ...undone }, `switchover ${undone.id} undone: the fence (${undone.fence}) is lifted and the standby streams`);
        return;
      }
      const report = await switchover(config, {
        configPath: options.config, fence: parseFence(options.fence), reverse: options.reverse === true, verify: options.verify,
        timeoutSeconds: options.timeout, maxLagSeconds: options.maxLag, quietMs: 1000,
        confirm: (plan) => askToConfirm(plan, options.yes === true),
      }, log);
      print(options, report, formatReport(report));
    });

  withConfig(program.command('resync'))
    .description("copy tables again, in place, aligned with their group's stream, while every group keeps running")
    .requiredOption('--table <list>', 'the tables, comma-separated schema.table (patterns with *)')
    .option('--json', 'machine-readable output')
    .action(async (options: GlobalOptions & { table: string }) => {
      const { config, log } = await setup(options);
      const summary = await resync(config, parseTableList(options.table), log);
      print(options, summary, formatTable(['group', 'tables', 'rows copied'], summary.map((s) => [s.group, s.tables.join(', '), String(s.rows)])));
    });

  withConfig(program.command('ddl'))
    .description("run a schema change on the source and, at the same place in the group's stream, on the target (indexes, constraints, defaults)")
    .argument('<statement>', 'the SQL to run, e.g. "CREATE INDEX ON orders (created_at)"')
    .option('--group <name>', 'the group whose stream carries it (needed when the configuration has several)')
    .option('--json', 'machine-readable output')
    .action(async (statement: string, options: GlobalOptions) => {
      const { config, log } = await setup(options);
      const summary = await runDdl(config, statement, log);
      print(options, summary, `ran on the source; group ${summary.groups.join(', ')} runs it on the target at the same place in its stream (ferry wait to see it applied)`);
    });

  withConfig(program.command('drop'))
    .description("remove each group's slot and publication (or triggers and queue) on the source and its rows in the target's ferry schema; replicated data stays")
    .option('--group <list>', 'only these groups, comma-separated (the others keep streaming)')
    .action(async (options: GlobalOptions) => {
      const { config, log } = await setup(options);
      await dropGroups(config, log);
    });

  program.command('demo')
    .description('start throwaway source and target servers, replicate a live workload, show status, verify, clean up')
    .option('--seconds <n>', 'how long the live workload runs', positiveNumber, 10)
    .addOption(new Option('--source <kind>', 'the source: PostgreSQL 18 from npm packages, or MariaDB from the system\'s packages').choices(['postgresql', 'mariadb']).default('postgresql'))
    .action(async (options: { seconds: number; source: 'postgresql' | 'mariadb' }) => {
      const { runDemo } = await import('../demo/demo.js');
      await runDemo({ seconds: options.seconds, source: options.source });
    });

  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  try {
    const outcome = { exitCode: ExitCode.ok as ExitCode };
    await buildProgram(outcome).parseAsync(argv as string[]);
    return outcome.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    if (err instanceof FerryError) {
      process.stderr.write(`ferry: ${err.describe()}\n`);
      return err.exitCode;
    }
    process.stderr.write(`ferry: unexpected error: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    return ExitCode.failure;
  }
}

// Exit explicitly: a stray timer or socket must not keep a finished command alive.
main(process.argv).then((code) => process.exit(code));
