import type { Connection } from 'mysql2/promise';
import type pg from 'pg';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { from as copyFrom } from 'pg-copy-streams';
import type { ChunkPlan } from '../../copy/chunk-plan.js';
import { FerryError } from '../../errors.js';
import { copyChunk, copyLine } from './mysql-copy.js';
import { copySelectList } from './copy-select.js';
import { mapRow } from './map-row.js';
import { describeMySqlChunk } from './mysql-chunk-plan.js';
import { mysqlQuote } from './mysql-names.js';
import type { RowValue } from './row-values.js';
import type { MySqlVerifyTable } from './mysql-verify-tables.js';
import { quoteIdent, type TypeMapOptions } from './type-map.js';

/** The kinds of difference a chunk reports; `changed`: the key changed on the source while verify ran, so it is not compared. */
export type DiffKind = 'missing' | 'extra' | 'differing' | 'changed';

export interface ChunkResult {
  readonly sourceRows: number;
  readonly targetRows: number;
  /** Per kind: how many keys, and the first `limit` of them (key column → text), in key order. */
  readonly diffs: ReadonlyMap<DiffKind, { readonly count: number; readonly keys: Record<string, string>[] }>;
}

/**
 * One verify worker: a MySQL connection in its consistent snapshot and a
 * target connection in the target's snapshot. Each table gets a temporary
 * table on the target, with the target's column types, that the worker's
 * chunks of it are copied into, the way `ferry init` copies (the same
 * SELECT, value map and COPY text): PostgreSQL itself reads the source's
 * values into the target's types, so `1.50` and `1.5` in a numeric(10,2),
 * JSON objects with their keys in another order, or timestamps written
 * differently compare as the values they are, not as strings. Each chunk is
 * then compared with the same key range of the target table in one query.
 */
export class VerifyWorker {
  private readonly loaded = new Map<string, string>();
  private readonly windows = new Map<string, string>();
  private keySets = 0;

  constructor(readonly source: Connection, readonly target: pg.Client, private readonly typeMap: TypeMapOptions) {}

  /**
   * Keys of `table` that changed on the source between the two snapshots'
   * places: loaded once per table into a temporary table, as target-typed
   * values, so that a differing key is matched as a value too.
   */
  async setWindow(table: MySqlVerifyTable, keys: readonly (readonly (string | null)[])[]): Promise<void> {
    if (keys.length === 0 || this.windows.has(table.label)) return;
    const name = `ferry_verify_w${this.windows.size}`;
    await this.loadKeys(table, name, keys);
    this.windows.set(table.label, name);
  }

  /** Compares one key range (or the whole table) of the source's snapshot with the target's. */
  async compare(table: MySqlVerifyTable, plan: ChunkPlan, limit: number, changedLimit = limit): Promise<ChunkResult> {
    const into = await this.scratch(table);
    await this.target.query(`TRUNCATE pg_temp.${into}`);
    let copied: { rows: number };
    try {
      copied = await copyChunk(this.source, { ...table.table, target: { ...table.table.target, schema: 'pg_temp', name: into } }, plan, this.target, this.typeMap);
    } catch (err) {
      if (err instanceof FerryError && err.code !== 'FERRY_MYSQL_COPY') throw err;
      throw new FerryError('FERRY_VERIFY_READ', `reading ${describeMySqlChunk(table.table, plan)} for the comparison failed: ${(err as Error).message}`,
        'fix the cause and run verify again', { context: { table: table.label }, cause: err });
    }
    return this.diff(table, into, `${table.relation}${targetCondition(plan)}`, copied.rows, limit, changedLimit);
  }

  /**
   * Compares only the rows of `keys` (as the source's key values, which
   * `sourceKeys` are) on both sides: the source's rows are read with the
   * copy's SELECT and value map, a few thousand at most.
   */
  async compareKeys(table: MySqlVerifyTable, keys: readonly (readonly (string | null)[])[], sourceKeys: string, limit: number): Promise<ChunkResult> {
    const into = await this.scratch(table);
    await this.target.query(`TRUNCATE pg_temp.${into}`);
    const named = `ferry_verify_k${this.keySets++}`;
    await this.loadKeys(table, named, keys);
    const source = table.table.source;
    const [rows] = await this.source.query({
      sql: `SELECT ${copySelectList(source.columns)} FROM ${mysqlQuote(source.database)}.${mysqlQuote(source.name)} WHERE ${sourceKeys}`, rowsAsArray: true,
    });
    const lines = (rows as RowValue[][]).map((image) => copyLine(mapRow(source, table.table.target, image, this.typeMap)));
    const columns = table.table.target.columns.map((c) => quoteIdent(c.name)).join(', ');
    await pipeline(Readable.from(chunksOf(lines)), this.target.query(copyFrom(`COPY pg_temp.${into} (${columns}) FROM STDIN`)));
    const keyList = table.key.map(quoteIdent).join(', ');
    return this.diff(table, into, `${table.relation} WHERE (${keyList}) IN (SELECT ${keyList} FROM pg_temp.${named})`, lines.length, limit, limit);
  }

  /** The differences between the source rows in `into` and the target rows `from` gives, by key. */
  private async diff(table: MySqlVerifyTable, into: string, from: string, sourceRows: number, limit: number, changedLimit: number): Promise<ChunkResult> {
    const keys = table.key.map(quoteIdent);
    const columns = table.columns.map((c) => quoteIdent(c.name));
    const row = (alias: string) => `ROW(${columns.map((c) => `${alias}.${c}`).join(', ')})`;
    const window = this.windows.get(table.label);
    const kind = window
      ? `CASE WHEN EXISTS (SELECT 1 FROM pg_temp.${window} w WHERE (${keys.map((k) => `w.${k}`).join(', ')}) = (${keys.map((k) => `d.${k}`).join(', ')}))
          THEN 'changed' ELSE d.kind END`
      : 'd.kind';
    // Rows compared with each type's own equality (IS DISTINCT FROM on the row), not their text: jsonb 3.0 = 3, and so on.
    const first = keys[0] as string;
    const result = await this.target.query<{ kind: DiffKind; n: string; key: string[] }>(`
      WITH s AS (SELECT ${columns.join(', ')} FROM pg_temp.${into}),
           t AS (SELECT ${columns.join(', ')} FROM ${from}),
           d AS (SELECT ${keys.map((k) => `COALESCE(s.${k}, t.${k}) AS ${k}`).join(', ')},
                        CASE WHEN t.${first} IS NULL THEN 'missing' WHEN s.${first} IS NULL THEN 'extra' ELSE 'differing' END AS kind
                   FROM s FULL JOIN t ON ${keys.map((k) => `s.${k} = t.${k}`).join(' AND ')}
                  WHERE s.${first} IS NULL OR t.${first} IS NULL OR ${row('s')} IS DISTINCT FROM ${row('t')}),
           e AS (SELECT ${keys.join(', ')}, ${kind} AS kind FROM d),
           r AS (SELECT kind, ARRAY[${keys.map((k) => `${k}::text`).join(', ')}] AS key, count(*) OVER (PARTITION BY kind) AS n,
                        row_number() OVER (PARTITION BY kind ORDER BY ${keys.join(', ')}) AS i FROM e)
      SELECT kind, n, key FROM r WHERE i <= CASE WHEN kind = 'changed' THEN $2::bigint ELSE $1::bigint END OR i = 1 ORDER BY kind, i`, [limit, changedLimit]);
    const targetRows = Number((await this.target.query<{ n: string }>(`SELECT count(*) AS n FROM ${from}`)).rows[0]?.n ?? 0);
    const diffs = new Map<DiffKind, { count: number; keys: Record<string, string>[] }>();
    for (const row of result.rows) {
      const entry = diffs.get(row.kind) ?? { count: Number(row.n), keys: [] };
      diffs.set(row.kind, entry);
      if (entry.keys.length < (row.kind === 'changed' ? changedLimit : limit)) entry.keys.push(Object.fromEntries(table.key.map((k, i) => [k, row.key[i] ?? 'NULL'])));
    }
    return { sourceRows, targetRows, diffs };
  }

  /** Key values, as PostgreSQL input text, into a temporary table of the key's target types. */
  private async loadKeys(table: MySqlVerifyTable, name: string, keys: readonly (readonly (string | null)[])[]): Promise<void> {
    const columns = table.key.map((k) => table.columns.find((c) => c.name === k) as MySqlVerifyTable['columns'][number]);
    await this.target.query(`CREATE TEMP TABLE ${name} (${columns.map((c) => `${quoteIdent(c.name)} ${c.type}`).join(', ')})`);
    const lines = keys.map((k) => copyLine(k));
    await pipeline(Readable.from(chunksOf(lines)), this.target.query(copyFrom(`COPY pg_temp.${name} FROM STDIN`)));
  }

  /** The worker's temporary table for `table`: every column the copy writes, in the target's types where the target has the column. */
  private async scratch(table: MySqlVerifyTable): Promise<string> {
    let name = this.loaded.get(table.label);
    if (name) return name;
    name = `ferry_verify_${this.loaded.size}`;
    const types = new Map(table.columns.map((c) => [c.name, c.type]));
    const columns = table.table.target.columns.map((c) => `${quoteIdent(c.name)} ${types.get(c.name) ?? c.type}`);
    await this.target.query(`CREATE TEMP TABLE ${name} (${columns.join(', ')})`);
    this.loaded.set(table.label, name);
    return name;
  }
}

/** The chunk's key range on the target: the plan names the target's column, bounds are integers. */
function targetCondition(plan: ChunkPlan): string {
  if (plan.kind !== 'key') return '';
  const conds: string[] = [];
  if (plan.from !== null) conds.push(`${quoteIdent(plan.column)} >= ${BigInt(plan.from)}`);
  if (plan.to !== null) conds.push(`${quoteIdent(plan.column)} < ${BigInt(plan.to)}`);
  return conds.length > 0 ? ` WHERE ${conds.join(' AND ')}` : '';
}

function* chunksOf(lines: readonly string[]): Generator<Buffer> {
  for (let i = 0; i < lines.length; i += 1000) yield Buffer.from(lines.slice(i, i + 1000).join(''), 'utf8');
}
