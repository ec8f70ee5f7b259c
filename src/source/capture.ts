import type pg from 'pg';
import type { CaptureMode } from '../config/schema.js';
import { recordQueueMessage } from './pg-trigger/stream-message.js';
import { recordWalMessage } from './pg-wal/stream-message.js';

/** What a command asks of a capture method, whichever it is. */
export interface Capture {
  /** Records a message in `group`'s stream, inside the client's open transaction, at its place among that transaction's changes. */
  recordMessage(client: pg.Client, group: string, prefix: string, content: string): Promise<void>;
}

const captures: Record<CaptureMode, Capture> = {
  wal: { recordMessage: recordWalMessage },
  trigger: { recordMessage: recordQueueMessage },
};

export function captureOf(mode: CaptureMode): Capture {
  return captures[mode];
}
