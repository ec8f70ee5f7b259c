import type pg from 'pg';
import { walSql } from './wal-setup-sql.js';

/** A transactional logical message: every slot of the database decodes it at its place among the changes of its transaction. */
export async function recordWalMessage(client: pg.Client, _group: string, prefix: string, content: string): Promise<void> {
  await client.query(walSql.emitMessage, [prefix, content]);
}

/** The same from PL/pgSQL inside the source (see Capture.recordMessageSql). */
export const walMessagePlpgsql = `PERFORM pg_catalog.pg_logical_emit_message(true, ferry_prefix, ferry_content);`;
