import type pg from 'pg';
import { DefinitionReconciler } from '../apply/definition-reconcile.js';
import { SchemaEvolution } from '../apply/schema-evolution.js';
import { describedColumnsSql, serverVersionSql } from '../catalog/catalog-sql.js';
import type { SourceTable } from '../catalog/source-tables.js';
import type { ReplicaIdentity } from '../change/change.js';
import type { FerryConfig, GroupConfig } from '../config/schema.js';
import type { Logger } from '../observe/logger.js';
import { inTransaction } from '../pg/in-transaction.js';
import { SourceCatalog } from '../run/source-catalog.js';
import { captureOf } from '../source/capture.js';
import { ddlCaptureOn, readDefinition } from '../source/ddl-capture/ddl-capture-install.js';
import { START } from '../source/position.js';
import { readGroup } from '../target/control-schema.js';

const IDENTITY: Record<SourceTable['replicaIdentity'], ReplicaIdentity> = { d: 'default', i: 'index', f: 'full', n: 'nothing' };

/**
 * Before tables are copied again (emptied on the target): each gets the
 * source's columns as they are now, changed the way the stream would have
 * changed it (renames by attribute number, types, added and dropped
 * columns), with the description and the statements recorded. On an empty
 * table every change can be made, including those whose existing values
 * only a copy could bring (a volatile default, a type the old values do
 * not convert to), which is why such a table is copied again. With DDL
 * capture, the rest of its definition too (defaults, NOT NULL, indexes,
 * constraints), since the captured changes before the copy are discarded
 * with the rows.
 */
export async function alignEmptiedTables(
  config: FerryConfig, source: pg.Client, target: pg.Client, group: GroupConfig, tables: readonly SourceTable[], log: Logger,
): Promise<void> {
  // Where the group stands: what the log and the recorded schema changes name.
  const stored = (await readGroup(target, group.name))?.position ?? null;
  const position = stored === null ? '' : captureOf(config.source.capture).formatPosition(stored);
  const catalog = new SourceCatalog(config.source.url, group.name);
  const schema = new SchemaEvolution(target, group.name, group.schemaChanges, catalog, log, () => position);
  const version = (await source.query<{ version: number }>(serverVersionSql)).rows[0]?.version ?? 0;
  // With DDL capture, the whole definition (defaults, NOT NULL, indexes, constraints): its captured changes before the copy are discarded with the rows.
  const definitions = await ddlCaptureOn(source, group.name) ? new DefinitionReconciler(target, group.name, group.schemaChanges, schema, log, () => position) : undefined;
  try {
    for (const table of tables) {
      const definition = definitions && await readDefinition(source, table.oid);
      const columns = definition ? [] : (await source.query<{ name: string; type_oid: number; type_mod: number; is_key: boolean }>(describedColumnsSql(version), [table.oid])).rows
        .map((r) => ({ name: r.name, typeOid: r.type_oid, typeMod: r.type_mod, isKey: r.is_key }));
      await inTransaction(target, async () => {
        if (definitions && definition) {
          await definitions.reconcile({ groups: [group.name], tag: 'COPY', query: '', dropped: [], definition }, START);
        } else {
          await schema.follow({ relationId: table.oid, schema: table.schema, table: table.name, replicaIdentity: IDENTITY[table.replicaIdentity], columns }, START);
        }
        for (const record of schema.takeRecords()) await target.query(record.text, record.values);
      });
    }
  } finally {
    await catalog.close();
  }
}
