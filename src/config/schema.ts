/**
 * The shape of ferry.yaml. YAML keys are snake_case; the parsed `FerryConfig`
 * is camelCase with every default filled in, so nothing downstream has to
 * know which keys were optional. Objects are strict: a misspelt key is an
 * error rather than a silently ignored setting.
 *
 * Messages here never quote a `url` value, because it may hold a password.
 */
import os from 'node:os';
import { z } from 'zod';
import { formatKeyPath } from './interpolate.js';

/** One `tables:` entry. With `pattern`, `*` in schema/table matches any run of characters. */
export interface TableRef {
  readonly schema: string;
  readonly table: string;
  readonly pattern: boolean;
}

/** `wal` and `trigger` read a PostgreSQL source; `binlog` a MySQL or MariaDB one. */
export type CaptureMode = 'wal' | 'trigger' | 'binlog';
/** `capture`: an event trigger on the source records DDL of replicated tables in their groups' streams (see docs/schema-changes.md). */
export type DdlMode = 'capture' | 'off';
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';
export type LogFormat = 'auto' | 'json' | 'pretty';

export interface GroupConfig {
  readonly name: string;
  readonly tables: readonly TableRef[];
  readonly slot: string;
  readonly publication: string;
  /** What a change of a table's columns on the source does: applied on the target in stream order, or the group stops. */
  readonly schemaChanges: 'apply' | 'stop';
}

export interface ApplyConfig {
  readonly batchMaxRows: number;
  readonly batchMaxBytes: number;
  readonly batchMaxDelayMs: number;
  readonly statusIntervalMs: number;
  readonly spillDir: string;
  readonly retryInitialMs: number;
  readonly retryMaxMs: number;
  /** A deadlock, serialization failure, lock timeout or cancel at the same position this many times in a row stops the group. */
  readonly retryAttempts: number;
  /** lock_timeout of the apply session: a target lock held longer is a retried failure, not a silent hang (0: wait for ever). */
  readonly lockTimeoutMs: number;
  /** Stream values in binary (PostgreSQL 14+ sources) where every column type allows it. */
  readonly binaryTransfer: boolean;
  /** How often `ferry run` looks for new source tables matching a group's patterns, to copy them in (0: never). */
  readonly newTableCheckMs: number;
}

export interface SequenceConfig {
  /** How often `ferry run` copies sequence values to the target. */
  readonly syncIntervalMs: number;
  /** Periodic syncs set the target this many increments ahead of the source's last value. */
  readonly headroom: number;
}

/** Trigger capture's ticker and queue (used with `source.capture: trigger`). */
export interface TriggerConfig {
  /** While changes arrive, a tick (a batch boundary) at most this often. */
  readonly tickIntervalMs: number;
  /** Without changes, a tick this often all the same. */
  readonly idleTickMs: number;
  /** How often capture moves on to the next queue table (the consumed one is emptied by TRUNCATE). */
  readonly rotateIntervalMs: number;
}

/** `ferry run`'s HTTP endpoint, health limit and early warnings. */
export interface ObserveConfig {
  /** HOST:PORT for /metrics, /status, /healthz and the dashboard; unset: no endpoint. */
  readonly listen: string | undefined;
  /** How often the run reads every group's status for gauges, the dashboard, health and warnings. */
  readonly pollIntervalMs: number;
  /** Lag above this is logged once per episode. */
  readonly lagWarnSeconds: number;
  /** /healthz answers 503 while a group's lag is above this. */
  readonly lagLimitSeconds: number;
  /** A slot holding this share of what it may retain (retained WAL + safe_wal_size) is logged as a warning. */
  readonly slotWarnShare: number;
  /** Trigger capture: a queue with more events than this waiting while no ferry process consumes it is logged as a warning. */
  readonly queueWarnEvents: number;
}

export const OBSERVE_DEFAULTS: ObserveConfig = {
  listen: undefined, pollIntervalMs: 5_000, lagWarnSeconds: 60, lagLimitSeconds: 300, slotWarnShare: 0.5, queueWarnEvents: 1_000_000,
};

export const TRIGGER_DEFAULTS: TriggerConfig = { tickIntervalMs: 100, idleTickMs: 10_000, rotateIntervalMs: 60_000 };

/** `source.mysql`: how a MySQL or MariaDB source is read and mapped (docs/mysql.md). */
export interface MySqlSourceConfig {
  /** MySQL database → PostgreSQL schema; a database not listed becomes the schema of its own name. */
  readonly schemas: Readonly<Record<string, string>>;
  readonly typeMap: {
    readonly tinyint1_as_boolean: boolean;
    readonly zero_dates: 'error' | 'null';
    readonly nul_bytes: 'error' | 'strip';
    readonly invalid_text: 'error' | 'replace';
    readonly enum_invalid: 'error' | 'null';
  };
  /** How the copy's snapshot is lined up with the binlog (see consistent-snapshot.ts). */
  readonly snapshotLock: 'auto' | 'none' | 'flush-tables' | 'lock-tables';
  /** The replica server id the binlog dump announces; unique among the source's replicas. Default: derived from the group's name. */
  readonly serverId: number | undefined;
}

export function mysqlConfig(config: FerryConfig): MySqlSourceConfig {
  return config.source.mysql ?? MYSQL_DEFAULTS;
}

const MYSQL_DEFAULTS: MySqlSourceConfig = {
  schemas: {},
  typeMap: { tinyint1_as_boolean: false, zero_dates: 'error', nul_bytes: 'error', invalid_text: 'error', enum_invalid: 'error' },
  snapshotLock: 'auto',
  serverId: undefined,
};

export interface FerryConfig {
  readonly source: { readonly url: string; readonly capture: CaptureMode; readonly ddl: DdlMode; readonly mysql?: MySqlSourceConfig };
  readonly target: { readonly url: string };
  readonly groups: readonly GroupConfig[];
  readonly apply: ApplyConfig;
  /** `chunkBytes`: tables larger than this are copied in several chunks at once. */
  readonly copy: { readonly parallel: number; readonly chunkBytes: number };
  readonly sequences: SequenceConfig;
  /** Absent unless the file has a `trigger:` section; `triggerConfig()` fills in the defaults. */
  readonly trigger?: TriggerConfig;
  readonly observe: ObserveConfig;
  readonly log: { readonly level: LogLevel; readonly format: LogFormat };
}

export function triggerConfig(config: FerryConfig): TriggerConfig {
  return config.trigger ?? TRIGGER_DEFAULTS;
}

// Interpolated values (`${ROWS}`) are always strings, so integer fields
// accept digit strings too.
function integer(min: number, max = Number.MAX_SAFE_INTEGER) {
  return z.preprocess(
    (v) => (typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : v),
    z.number().int({ error: 'must be a whole number' })
      .min(min, { error: `must be at least ${min}` })
      .max(max, { error: `must be at most ${max}` }),
  );
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

/** Bytes from a number or a PostgreSQL-style size ("64MB", "512kB", "1GB"; 1kB = 1024 bytes). */
export function parseSize(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value > 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:([kmgt])i?b?|(b)?)\s*$/i.exec(value);
  if (m === null) return undefined;
  const bytes = Math.round(Number(m[1]) * (SIZE_UNITS[(m[2] ?? m[3] ?? '').toLowerCase()] ?? 1));
  return Number.isSafeInteger(bytes) && bytes > 0 ? bytes : undefined;
}

const size = z.unknown().transform((v, ctx) => {
  const bytes = parseSize(v);
  if (bytes !== undefined) return bytes;
  ctx.issues.push({ code: 'custom', input: v, message: 'must be a positive byte count or a size such as "512kB", "64MB", "1GB"' });
  return z.NEVER;
});

const url = z.string().refine((u) => /^postgres(?:ql)?:\/\/./i.test(u), {
  error: 'must be a postgres://user@host:port/database URL (the value is not shown; it may contain a password)',
});

/** A MySQL or MariaDB URL: the source of `binlog` capture. */
export function isMySqlUrl(u: string): boolean {
  return /^(?:mysql|mariadb):\/\/./i.test(u);
}

const sourceUrl = z.string().refine((u) => /^postgres(?:ql)?:\/\/./i.test(u) || isMySqlUrl(u), {
  error: 'must be a postgres://, mysql:// or mariadb:// URL of the form scheme://user@host:port/database (the value is not shown; it may contain a password)',
});

const mysqlSource = z.strictObject({
  schemas: z.record(z.string().min(1), z.string().min(1).max(63, { error: 'must be at most 63 bytes (a PostgreSQL name)' })).default({}),
  type_map: z.strictObject({
    tinyint1_as_boolean: z.boolean().default(false),
    zero_dates: z.enum(['error', 'null']).default('error'),
    nul_bytes: z.enum(['error', 'strip']).default('error'),
    invalid_text: z.enum(['error', 'replace']).default('error'),
    enum_invalid: z.enum(['error', 'null']).default('error'),
  }).prefault({}),
  snapshot_lock: z.enum(['auto', 'none', 'flush-tables', 'lock-tables'], {
    error: 'must be auto, none (MariaDB only), flush-tables (FLUSH TABLES WITH READ LOCK, needs RELOAD) or lock-tables (LOCK TABLES … READ)',
  }).default('auto'),
  server_id: integer(1, 2 ** 32 - 1).optional(),
}).transform((m): MySqlSourceConfig => ({ schemas: m.schemas, typeMap: m.type_map, snapshotLock: m.snapshot_lock, serverId: m.server_id }));

const tableRef = z.string().transform((text, ctx): TableRef => {
  const parsed = parseTableRef(text);
  if (typeof parsed !== 'string') return parsed;
  ctx.issues.push({ code: 'custom', input: text, message: parsed });
  return z.NEVER;
});

const group = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9_]{0,39}$/, {
    error: 'must start with a lower-case letter and use only a-z, 0-9 and _ (at most 40 characters); it becomes part of slot and publication names',
  }),
  tables: z.array(tableRef).min(1, { error: 'must list at least one table, e.g. [public.orders]' }),
  slot: z.string().regex(/^[a-z0-9_]{1,63}$/, {
    error: 'is not a valid replication slot name: use only a-z, 0-9 and _ (at most 63 characters)',
  }).optional(),
  // Same rule as slots (plus no leading digit) so the name never needs quoting in SQL.
  publication: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, {
    error: 'is not a valid publication name: start with a-z or _, then a-z, 0-9 and _ (at most 63 characters)',
  }).optional(),
  schema_changes: z.enum(['apply', 'stop'], { error: 'must be apply (follow the source\'s column changes on the target) or stop' }).default('apply'),
}).transform((g): GroupConfig => ({
  name: g.name,
  tables: g.tables,
  slot: g.slot ?? `ferry_${g.name}`,
  publication: g.publication ?? `ferry_${g.name}`,
  schemaChanges: g.schema_changes,
}));

const apply = z.strictObject({
  batch_max_rows: integer(1).default(10_000),
  batch_max_bytes: size.default(64 * 2 ** 20),
  batch_max_delay_ms: integer(0).default(200),
  status_interval_ms: integer(1).default(10_000),
  spill_dir: z.string().min(1, { error: 'must not be empty' }).default(() => os.tmpdir()),
  retry_initial_ms: integer(1).default(1_000),
  retry_max_ms: integer(1).default(30_000),
  retry_attempts: integer(1).default(10),
  lock_timeout_ms: integer(0).default(60_000),
  binary_transfer: z.boolean().default(true),
  new_table_check_ms: integer(0).default(10_000),
}).transform((a): ApplyConfig => ({
  batchMaxRows: a.batch_max_rows,
  batchMaxBytes: a.batch_max_bytes,
  batchMaxDelayMs: a.batch_max_delay_ms,
  statusIntervalMs: a.status_interval_ms,
  spillDir: a.spill_dir,
  retryInitialMs: a.retry_initial_ms,
  retryMaxMs: a.retry_max_ms,
  retryAttempts: a.retry_attempts,
  lockTimeoutMs: a.lock_timeout_ms,
  binaryTransfer: a.binary_transfer,
  newTableCheckMs: a.new_table_check_ms,
}));

const sequences = z.strictObject({
  sync_interval_ms: integer(1).default(60_000),
  headroom: integer(0).default(1_000),
}).transform((s): SequenceConfig => ({
  syncIntervalMs: s.sync_interval_ms,
  headroom: s.headroom,
}));

const trigger = z.strictObject({
  tick_interval_ms: integer(1).default(TRIGGER_DEFAULTS.tickIntervalMs),
  idle_tick_ms: integer(1).default(TRIGGER_DEFAULTS.idleTickMs),
  rotate_interval_ms: integer(1).default(TRIGGER_DEFAULTS.rotateIntervalMs),
}).transform((t): TriggerConfig => ({
  tickIntervalMs: t.tick_interval_ms,
  idleTickMs: t.idle_tick_ms,
  rotateIntervalMs: t.rotate_interval_ms,
}));

/** HOST:PORT, where HOST may be a name, an IPv4 address or a bracketed IPv6 address; port 0 picks a free port. */
export const listenAddress = z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, {
  error: 'must be HOST:PORT, e.g. 127.0.0.1:9187 or 0.0.0.0:9187 ([::1]:9187 for IPv6)',
});

const observe = z.strictObject({
  listen: listenAddress.optional(),
  poll_interval_ms: integer(100).default(OBSERVE_DEFAULTS.pollIntervalMs),
  lag_warn_seconds: z.number().positive({ error: 'must be a positive number of seconds' }).default(OBSERVE_DEFAULTS.lagWarnSeconds),
  lag_limit_seconds: z.number().positive({ error: 'must be a positive number of seconds' }).default(OBSERVE_DEFAULTS.lagLimitSeconds),
  slot_warn_share: z.number().gt(0, { error: 'must be a share above 0 and at most 1, e.g. 0.5' }).max(1, { error: 'must be a share above 0 and at most 1, e.g. 0.5' })
    .default(OBSERVE_DEFAULTS.slotWarnShare),
  queue_warn_events: integer(1).default(OBSERVE_DEFAULTS.queueWarnEvents),
}).transform((o): ObserveConfig => ({
  listen: o.listen,
  pollIntervalMs: o.poll_interval_ms,
  lagWarnSeconds: o.lag_warn_seconds,
  lagLimitSeconds: o.lag_limit_seconds,
  slotWarnShare: o.slot_warn_share,
  queueWarnEvents: o.queue_warn_events,
}));

export const configSchema: z.ZodType<FerryConfig> = z.strictObject({
  source: z.strictObject({
    url: sourceUrl,
    capture: z.enum(['wal', 'trigger', 'binlog'], {
      error: 'must be wal or trigger (a PostgreSQL source) or binlog (a MySQL or MariaDB source)',
    }).optional(),
    ddl: z.enum(['capture', 'off'], {
      error: 'must be capture (an event trigger records DDL of replicated tables in their stream; needs a superuser or rds_superuser) or off',
    }).default('off'),
    mysql: mysqlSource.optional(),
  }).transform((s) => ({
    url: s.url, ddl: s.ddl, ...(s.mysql ? { mysql: s.mysql } : {}),
    capture: s.capture ?? (isMySqlUrl(s.url) ? 'binlog' as const : 'wal' as const),
  })),
  target: z.strictObject({ url }),
  groups: z.array(group).min(1, { error: 'must define at least one group' }),
  apply: apply.prefault({}),
  copy: z.strictObject({ parallel: integer(1, 64).default(4), chunk_size: size.default(64 * 1024 * 1024) })
    .transform((c) => ({ parallel: c.parallel, chunkBytes: c.chunk_size }))
    .prefault({}),
  sequences: sequences.prefault({}),
  trigger: trigger.optional(),
  observe: observe.prefault({}),
  log: z.strictObject({
    level: z.enum(['trace', 'debug', 'info', 'warn', 'error']).default('info'),
    format: z.enum(['auto', 'json', 'pretty']).default('auto'),
  }).prefault({}),
}).superRefine((cfg, ctx) => {
  for (const problem of crossCheck(cfg)) ctx.addIssue({ code: 'custom', ...problem });
});

interface Problem { path: PropertyKey[]; message: string }

/** Rules that span more than one value, checked once each value is valid on its own. */
function crossCheck(cfg: FerryConfig): Problem[] {
  const problems: Problem[] = [];
  const mysql = isMySqlUrl(cfg.source.url);
  if (mysql !== (cfg.source.capture === 'binlog')) {
    problems.push({ path: ['source', 'capture'], message: mysql
      ? `is ${cfg.source.capture}, which reads a PostgreSQL source; a mysql:// or mariadb:// source is read with capture binlog (or leave capture out)`
      : 'is binlog, which reads a MySQL or MariaDB source; a PostgreSQL source is read with capture wal or trigger' });
  }
  if (mysql && cfg.source.ddl === 'capture') {
    problems.push({ path: ['source', 'ddl'], message: 'capture needs a PostgreSQL source; with a MySQL source, schema changes stop the group with the statement and the fix (docs/mysql.md)' });
  }
  if (!mysql && cfg.source.mysql) {
    problems.push({ path: ['source', 'mysql'], message: 'applies to a mysql:// or mariadb:// source only; remove it' });
  }
  if (cfg.apply.retryMaxMs < cfg.apply.retryInitialMs) {
    problems.push({ path: ['apply', 'retry_max_ms'], message: `must be at least apply.retry_initial_ms (${cfg.apply.retryInitialMs})` });
  }
  if (sameDatabase(cfg.source.url, cfg.target.url)) {
    problems.push({ path: ['target', 'url'], message: 'names the same database as source.url (same host, port and database); the target must be a different database' });
  }
  const names = new Map<string, number>();
  const slots = new Map<string, number>();
  const publications = new Map<string, number>();
  const tables = new Map<string, { group: number; index: number }>();
  cfg.groups.forEach((g, gi) => {
    const seen = (map: Map<string, number>, value: string, key: string, fix: string) => {
      const other = map.get(value);
      if (other === undefined) map.set(value, gi);
      else problems.push({ path: ['groups', gi, key], message: `${key} "${value}" is also used by group "${cfg.groups[other]?.name}" (groups[${other}]); ${fix}` });
    };
    const firstNamed = names.get(g.name);
    if (firstNamed !== undefined) {
      // Its default slot and publication clash too; one message is enough.
      problems.push({ path: ['groups', gi, 'name'], message: `group "${g.name}" is defined twice (first at groups[${firstNamed}]); group names must be unique` });
    } else {
      names.set(g.name, gi);
      seen(slots, g.slot, 'slot', 'each group needs its own slot (the default is ferry_<name>)');
      seen(publications, g.publication, 'publication', 'each group needs its own publication (the default is ferry_<name>)');
    }
    g.tables.forEach((t, ti) => {
      if (t.pattern) return;
      const key = `${t.schema}\u0000${t.table}`;
      const first = tables.get(key);
      if (first === undefined) { tables.set(key, { group: gi, index: ti }); return; }
      const where = formatKeyPath(['groups', first.group, 'tables', first.index]);
      const message = first.group === gi
        ? `table ${formatTableRef(t)} is listed twice in group "${g.name}" (also ${where}); remove one`
        : `table ${formatTableRef(t)} is in both group "${cfg.groups[first.group]?.name}" (${where}) and group "${g.name}"; a table can belong to one group only`;
      problems.push({ path: ['groups', gi, 'tables', ti], message });
    });
  });
  return problems;
}

/**
 * `schema.table` as PostgreSQL reads it: `"quoted"` parts are taken verbatim
 * (`""` is a quote), unquoted parts are folded to lower case and may use `*`.
 * Returns the reference, or a message saying what is wrong.
 */
export function parseTableRef(text: string): TableRef | string {
  const parts: { name: string; quoted: boolean }[] = [];
  let i = 0;
  const s = text.trim();
  while (true) {
    if (s[i] === '"') {
      let name = '';
      let j = i + 1;
      while (j < s.length && !(s[j] === '"' && s[j + 1] !== '"')) {
        name += s[j];
        j += s[j] === '"' ? 2 : 1;
      }
      if (j >= s.length) return `"${text}" has an unterminated quoted identifier`;
      if (name === '') return `"${text}" has an empty quoted identifier`;
      parts.push({ name, quoted: true });
      i = j + 1;
    } else {
      const m = /^[\p{L}_*][\p{L}\p{N}_$*]*/u.exec(s.slice(i));
      if (m === null) return `"${text}" is not a valid schema.table name; quote identifiers with other characters, e.g. "my-schema".orders`;
      // PostgreSQL folds only ASCII letters in unquoted identifiers.
      parts.push({ name: m[0].replace(/[A-Z]+/g, (c) => c.toLowerCase()), quoted: false });
      i += m[0].length;
    }
    if (i === s.length) break;
    if (s[i] !== '.') return `"${text}" is not a valid schema.table name; quote identifiers with other characters, e.g. "my-schema".orders`;
    i += 1;
  }
  const [schema, table] = parts;
  if (parts.length === 1 || schema === undefined || table === undefined) {
    return `"${text}" must be schema-qualified, e.g. public.${text.trim()}`;
  }
  if (parts.length > 2) return `"${text}" has too many dots; write schema.table and quote names containing dots, e.g. "my.schema".orders`;
  const pattern = parts.some((p) => !p.quoted && p.name.includes('*'));
  // A quoted `*` would be read as a wildcard once the entry is a pattern.
  if (pattern && parts.some((p) => p.quoted && p.name.includes('*'))) {
    return `"${text}" mixes a quoted "*" with a wildcard; list the table literally instead`;
  }
  for (const p of parts) {
    if (!p.name.includes('*') && Buffer.byteLength(p.name) > 63) {
      return `"${text}" has a name longer than 63 bytes, which PostgreSQL would truncate`;
    }
  }
  return { schema: schema.name, table: table.name, pattern };
}

/** A reference as the user would write it; quotes only where needed. */
export function formatTableRef(t: TableRef): string {
  const ident = (name: string) => (/^[a-z_*][a-z0-9_$*]*$/.test(name) && (t.pattern || !name.includes('*'))
    ? name : `"${name.replaceAll('"', '""')}"`);
  return `${ident(t.schema)}.${ident(t.table)}`;
}

interface Endpoint { hosts: string[]; database: string }

/** Host/port pairs and database of a libpq URL, as far as the URL itself says. */
function endpointOf(url: string): Endpoint {
  const rest = url.replace(/^[a-z]+:\/\//i, '');
  // libpq: the userinfo ends at the first `@` that comes before any `/`.
  const slash = rest.indexOf('/');
  const at = rest.indexOf('@');
  const hasUser = at >= 0 && (slash < 0 || at < slash);
  const userinfo = hasUser ? rest.slice(0, at) : '';
  const afterUser = hasUser ? rest.slice(at + 1) : rest;
  const hostEnd = afterUser.search(/[/?]/);
  const hostPart = hostEnd < 0 ? afterUser : afterUser.slice(0, hostEnd);
  const tail = hostEnd < 0 ? '' : afterUser.slice(hostEnd);
  const q = tail.indexOf('?');
  const path = (q < 0 ? tail : tail.slice(0, q)).replace(/^\//, '');
  const params = new URLSearchParams(q < 0 ? '' : tail.slice(q + 1));
  const decode = (v: string) => { try { return decodeURIComponent(v); } catch { return v; } };

  const hosts: string[] = [];
  const ports: string[] = [];
  for (const spec of hostPart.split(',')) {
    const m = /^(\[[^\]]*\]|[^:]*)(?::(.*))?$/.exec(spec);
    hosts.push(decode(m?.[1] ?? '').replace(/^\[|\]$/g, ''));
    ports.push(m?.[2] ?? '');
  }
  const paramHosts = params.get('host')?.split(',');
  const paramPorts = params.get('port')?.split(',');
  const hostList = paramHosts ?? hosts;
  const portList = paramPorts ?? ports;
  const user = params.get('user') ?? decode(userinfo.split(':')[0] ?? '');
  return {
    // libpq: an empty host means the local server; one port may serve all hosts.
    hosts: hostList.map((h, i) => `${(h || 'localhost').toLowerCase()}:${(portList.length === 1 ? portList[0] : portList[i]) || '5432'}`),
    // libpq: the database defaults to the user name.
    database: params.get('dbname') ?? (decode(path) || user),
  };
}

/** True when both URLs reach the same host+port and database, i.e. Ferry would replicate into its own source. */
export function sameDatabase(a: string, b: string): boolean {
  const x = endpointOf(a);
  const y = endpointOf(b);
  return x.database === y.database && x.hosts.some((h) => y.hosts.includes(h));
}
