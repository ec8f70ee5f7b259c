import type pg from 'pg';
import { queueNames, QUEUE_TABLES } from './trigger-sql.js';

/**
 * A message event in the group's queue, written by the current transaction
 * (so it is delivered, in event order, with that transaction's changes): op
 * 'M', the prefix as the old row, the content as the new one. The queue
 * table is chosen as the capture function chooses it.
 */
export async function recordQueueMessage(client: pg.Client, group: string, prefix: string, content: string): Promise<void> {
  const names = queueNames(group);
  const slot = Number((await client.query<{ slot: string }>(`SELECT pg_sequence_last_value('${names.rotation}') % ${QUEUE_TABLES} AS slot`)).rows[0]?.slot ?? 0);
  await client.query(`INSERT INTO ${names.slot(slot)} (ev_id, ev_txid, ev_rel, ev_op, ev_new, ev_old, ev_level)
                      VALUES (nextval('${names.eventId}'), txid_current(), 0, 'M', $2, $1, 1)`, [prefix, content]);
}
