import type pg from 'pg';
import type { SourcePartitions } from '../apply/partition-placement.js';
import type { SourceColumn, SourceSchema } from '../apply/schema-evolution.js';
import { serverVersionSql, sourceColumnsSql, typeNamesSql } from '../catalog/catalog-sql.js';
import { partitionLineage, type PartitionLineage } from '../catalog/partition-lineage.js';
import { withQualifiedNames } from '../catalog/qualified-names.js';
import { connect } from '../pg/connect.js';

/**
 * The source catalog as the applier may see it: where a partition sits, and
 * a table's columns now. Connects on first use, which for most groups is
 * once per run (to check the columns of each table the stream describes).
 */
export class SourceCatalog implements SourcePartitions, SourceSchema {
  private client: Promise<pg.Client> | undefined;

  constructor(private readonly url: string, private readonly group: string) {}

  async lineage(relationId: number): Promise<PartitionLineage | undefined> {
    return partitionLineage(await this.connection(), relationId);
  }

  async columns(relationId: number): Promise<readonly SourceColumn[]> {
    const client = await this.connection();
    // Defaults come back with the names they use qualified: the target's search_path may differ.
    const rows = await withQualifiedNames(client, async () => (await client.query<{
      attnum: number; name: string; not_null: boolean; missing: string | null; is_array: boolean; default_expr: string | null; collation: string | null;
    }>(sourceColumnsSql(await this.version(client)), [relationId])).rows);
    return rows.map((r) => ({ attnum: r.attnum, name: r.name, notNull: r.not_null, missing: r.missing, isArray: r.is_array, defaultExpr: r.default_expr, collation: r.collation }));
  }

  async typeNames(types: readonly { readonly typeOid: number; readonly typeMod: number }[]): Promise<readonly string[]> {
    if (types.length === 0) return [];
    const client = await this.connection();
    return withQualifiedNames(client, async () => (await client.query<{ name: string }>(typeNamesSql,
      [types.map((t) => t.typeOid), types.map((t) => t.typeMod)])).rows.map((r) => r.name));
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) await (await client.catch(() => undefined))?.end().catch(() => undefined);
  }

  private serverVersion: number | undefined;

  private async version(client: pg.Client): Promise<number> {
    this.serverVersion ??= (await client.query<{ version: number }>(serverVersionSql)).rows[0]?.version ?? 0;
    return this.serverVersion;
  }

  private connection(): Promise<pg.Client> {
    this.client ??= connect(this.url, { role: 'source', applicationName: `ferry:${this.group}:catalog` });
    return this.client;
  }
}
