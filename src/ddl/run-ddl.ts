import { DDL_PREFIX, encodeDdl } from '../change/ddl-message.js';
import type { FerryConfig } from '../config/schema.js';
import { ConfigError, FerryError } from '../errors.js';
import type { Logger } from '../observe/logger.js';
import { serverVersionSql } from '../catalog/catalog-sql.js';
import { connect } from '../pg/connect.js';
import { captureOf } from '../source/capture.js';

export interface DdlSummary {
  readonly groups: readonly string[];
  readonly statement: string;
}

/**
 * `ferry ddl`: runs a statement on the source and records it, in the same
 * source transaction and before it, in the stream of the chosen group, so
 * that the target runs it at exactly that place: for what the stream does
 * not carry by itself (indexes, constraints, defaults, NOT NULL). Either
 * both happen or neither.
 */
export async function runDdl(config: FerryConfig, statement: string, log: Logger): Promise<DdlSummary> {
  if (statement.trim() === '') throw new ConfigError('ferry ddl needs a statement to run', 'e.g. ferry ddl -c ferry.yaml --group shop "CREATE INDEX ON orders (created_at)"');
  const groups = config.groups.map((g) => g.name);
  if (groups.length !== 1) {
    throw new ConfigError(`ferry ddl runs the statement on the target through one group's stream, and the configuration has ${groups.length} groups (${groups.join(', ')})`,
      'name the group whose tables the statement changes: --group <name>');
  }
  const group = groups[0] as string;
  const source = await connect(config.source.url, { role: 'source', applicationName: 'ferry:ddl' });
  try {
    const version = (await source.query<{ version: number }>(serverVersionSql)).rows[0]?.version ?? 0;
    if (!captureOf(config.source.capture).carriesMessages(version)) {
      // The statement would run on the source only: the target would never see it.
      throw new FerryError('FERRY_DDL_UNSUPPORTED', `group ${group}'s stream cannot carry a recorded statement from this source (PostgreSQL ${Math.floor(version / 10000)}): pgoutput carries messages from PostgreSQL 14 on`,
        'nothing was run. Run the statement on the source and on the target yourself (the target first for an added index or constraint), or use trigger capture (source.capture: trigger) for this source',
        { exitCode: 2, context: { group } });
    }
    await source.query('BEGIN');
    const searchPath = (await source.query<{ path: string }>(`SELECT current_setting('search_path') AS path`)).rows[0]?.path ?? '';
    await captureOf(config.source.capture).recordMessage(source, group, DDL_PREFIX, encodeDdl({ groups: [group], sql: statement, searchPath }));
    try {
      await source.query(statement);
    } catch (err) {
      throw new FerryError('FERRY_DDL_FAILED', `the statement failed on the source: ${(err as Error).message}`,
        'nothing was changed on either side; correct the statement and run it again', { exitCode: 2, context: { group }, cause: err });
    }
    await source.query('COMMIT');
    log.info({ group, statement }, 'ran on the source; the target runs it when the group reaches it');
    return { groups: [group], statement };
  } catch (err) {
    await source.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    await source.end().catch(() => undefined);
  }
}
