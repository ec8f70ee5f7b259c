import type pg from 'pg';
import type { CaptureMode } from '../config/schema.js';
import { queueMessagePlpgsql, recordQueueMessage } from './pg-trigger/stream-message.js';
import { recordWalMessage, walMessagePlpgsql } from './pg-wal/stream-message.js';

/** What a command asks of a capture method, whichever it is. */
export interface Capture {
  /** Records a message in `group`'s stream, inside the client's open transaction, at its place among that transaction's changes. */
  recordMessage(client: pg.Client, group: string, prefix: string, content: string): Promise<void>;
  /**
   * The same as a PL/pgSQL statement, for functions Ferry installs in the
   * source (DDL capture): it records `ferry_content` under `ferry_prefix` in
   * the stream of group `ferry_group` (text variables the function declares).
   */
  readonly recordMessageSql: string;
  /** Whether messages reach the stream from a source of this version (server_version_num). */
  carriesMessages(version: number): boolean;
}

const captures: Record<CaptureMode, Capture> = {
  // pgoutput sends logical decoding messages from PostgreSQL 14 on (its `messages` option).
  wal: { recordMessage: recordWalMessage, recordMessageSql: walMessagePlpgsql, carriesMessages: (version) => version >= 140000 },
  trigger: { recordMessage: recordQueueMessage, recordMessageSql: queueMessagePlpgsql, carriesMessages: () => true },
};

export function captureOf(mode: CaptureMode): Capture {
  return captures[mode];
}

/** Every capture method by name: code installed in the source serves groups of any of them. */
export function allCaptures(): Readonly<Record<CaptureMode, Capture>> {
  return captures;
}
