import { closeSync, openSync, readSync, rmSync, ftruncateSync, writeSync, mkdtempSync } from 'node:fs';
import path from 'node:path';

const FLUSH_AT = 1 << 20;

/**
 * Streamed in-progress transactions (pgoutput protocol 2+) spooled to disk as
 * raw pgoutput messages until their commit, so a transaction of any size
 * costs a file, not memory. Aborted subtransactions are cut off by
 * truncating the file back to where their first change began, as PostgreSQL's
 * own apply worker does.
 */
export class TransactionSpool {
  private readonly dir: string;
  private readonly files = new Map<number, SpoolFile>();

  constructor(parentDir: string, label: string) {
    this.dir = mkdtempSync(path.join(parentDir, `ferry-spool-${label}-`));
  }

  append(topXid: number, subXid: number, message: Buffer): void {
    let file = this.files.get(topXid);
    if (!file) {
      file = new SpoolFile(path.join(this.dir, `${topXid}.spool`));
      this.files.set(topXid, file);
    }
    file.append(subXid, message);
  }

  /** End of a streamed chunk: make the chunk durable enough to replay. */
  flush(topXid: number): void {
    this.files.get(topXid)?.flush();
  }

  abort(topXid: number, subXid: number): void {
    const file = this.files.get(topXid);
    if (!file) return;
    if (topXid === subXid) {
      file.remove();
      this.files.delete(topXid);
    } else {
      file.truncateFrom(subXid);
    }
  }

  /** Messages of a committed transaction, in order; the file is removed afterwards. */
  *replay(topXid: number): Generator<Buffer> {
    const file = this.files.get(topXid);
    if (!file) return;
    this.files.delete(topXid);
    try {
      yield* file.read();
    } finally {
      file.remove();
    }
  }

  discard(topXid: number): void {
    this.files.get(topXid)?.remove();
    this.files.delete(topXid);
  }

  close(): void {
    for (const file of this.files.values()) file.remove();
    this.files.clear();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

class SpoolFile {
  private readonly fd: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private written = 0;
  /** File offset of each subtransaction's first message, in order of appearance. */
  private readonly subStarts = new Map<number, number>();

  constructor(private readonly filePath: string) {
    this.fd = openSync(filePath, 'w+');
  }

  append(subXid: number, message: Buffer): void {
    if (!this.subStarts.has(subXid)) this.subStarts.set(subXid, this.written + this.pendingBytes);
    const header = Buffer.allocUnsafe(4);
    header.writeUInt32BE(message.length, 0);
    // Copy: the message is a view into the socket buffer, reused after this call.
    this.pending.push(header, Buffer.from(message));
    this.pendingBytes += 4 + message.length;
    if (this.pendingBytes >= FLUSH_AT) this.flush();
  }

  flush(): void {
    if (this.pendingBytes === 0) return;
    writeSync(this.fd, Buffer.concat(this.pending, this.pendingBytes), 0, this.pendingBytes, this.written);
    this.written += this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
  }

  truncateFrom(subXid: number): void {
    const start = this.subStarts.get(subXid);
    if (start === undefined) return;
    this.flush();
    ftruncateSync(this.fd, start);
    this.written = start;
    // Subtransactions that began after this one were nested in it or later; they go too.
    for (const [xid, offset] of this.subStarts) if (offset >= start) this.subStarts.delete(xid);
  }

  *read(): Generator<Buffer> {
    this.flush();
    let chunk = Buffer.allocUnsafe(FLUSH_AT);
    let have = 0;
    let fileOffset = 0;
    for (;;) {
      const n = readSync(this.fd, chunk, have, chunk.length - have, fileOffset);
      fileOffset += n;
      have += n;
      let at = 0;
      while (have - at >= 4) {
        const len = chunk.readUInt32BE(at);
        if (have - at - 4 < len) break;
        yield chunk.subarray(at + 4, at + 4 + len);
        at += 4 + len;
      }
      if (n === 0) {
        if (at !== have) throw new Error(`spool file ${this.filePath} ends inside a message`);
        return;
      }
      const rest = have - at;
      const needed = rest >= 4 ? chunk.readUInt32BE(at) + 4 : 4;
      const next = needed > chunk.length ? Buffer.allocUnsafe(needed * 2) : Buffer.allocUnsafe(chunk.length);
      chunk.copy(next, 0, at, have);
      chunk = next;
      have = rest;
    }
  }

  remove(): void {
    try { closeSync(this.fd); } catch { /* already closed */ }
    rmSync(this.filePath, { force: true });
  }
}
