import type pg from 'pg';
import { queueNames, QUEUE_TABLES } from './trigger-sql.js';

/**
 * A message event in the group's queue, written by the current transaction
 * (so it is delivered, in event order, with that transaction's changes): op
 * 'M', the prefix as the old row, the content as the new one. The queue
 * table is chosen as the capture function chooses it, after the
 * transaction has its id (the rotation rule relies on that order: a
 * message in a table already switched away from would never be read).
 */
export async function recordQueueMessage(client: pg.Client, group: string, prefix: string, content: string): Promise<void> {
  const names = queueNames(group);
  await client.query('SELECT txid_current()');
  const slot = Number((await client.query<{ slot: string }>(`SELECT pg_sequence_last_value('${names.rotation}') % ${QUEUE_TABLES} AS slot`)).rows[0]?.slot ?? 0);
  await client.query(`INSERT INTO ${names.slot(slot)} (ev_id, ev_txid, ev_rel, ev_op, ev_new, ev_old, ev_level)
                      VALUES (nextval('${names.eventId}'), txid_current(), 0, 'M', $2, $1, 1)`, [prefix, content]);
}

/**
 * The same from PL/pgSQL inside the source (see Capture.recordMessageSql),
 * with the queue's names built as queueNames builds them. A group whose
 * queue is gone (dropped by hand) records nothing rather than fail the
 * caller's transaction.
 */
export const queueMessagePlpgsql = `
    IF to_regclass(format('ferry.%I', ferry_group || '_rotation')) IS NOT NULL THEN
      PERFORM txid_current();  -- before the queue table is chosen, as the capture function does
      EXECUTE format('INSERT INTO ferry.%I (ev_id, ev_txid, ev_rel, ev_op, ev_new, ev_old, ev_level) VALUES (nextval(%L), txid_current(), 0, ''M'', $1, $2, 1)',
                     ferry_group || '_events_' || (pg_sequence_last_value(format('ferry.%I', ferry_group || '_rotation')::regclass) % ${QUEUE_TABLES}),
                     format('ferry.%I', ferry_group || '_event_id'))
        USING ferry_content, ferry_prefix;
    END IF;`;
