import { FerryError } from '../../errors.js';

/**
 * Where a binlog reader is, in the forms servers accept for resuming:
 *
 * - a file and a byte offset in it. The offset is our own 8-byte count: the
 *   event header's `log_pos` is 32 bits and wraps in files past 4 GiB (one
 *   large transaction can make one), so it only confirms the low bits;
 * - MariaDB's GTID position: one `domain-server-seq` per replication domain;
 * - MySQL's executed GTID set: `uuid:1-5:7-9,uuid2:1-3`.
 */
export interface FilePosition {
  readonly file: string;
  readonly offset: number;
}

export function formatFilePosition(p: FilePosition): string {
  return `${p.file}:${p.offset}`;
}

/** Binlog positions in binlog order: files by their sequence number (`binlog.000012`), then offset. */
export function compareFilePositions(a: FilePosition, b: FilePosition): number {
  if (a.file !== b.file) {
    const seq = (f: string) => Number(/\.(\d+)$/.exec(f)?.[1] ?? NaN);
    const [sa, sb] = [seq(a.file), seq(b.file)];
    if (Number.isNaN(sa) || Number.isNaN(sb) || a.file.replace(/\.\d+$/, '') !== b.file.replace(/\.\d+$/, '')) {
      throw new FerryError('FERRY_BINLOG_POSITION', `binlog files ${a.file} and ${b.file} are not of one binlog`);
    }
    return sa - sb;
  }
  return a.offset - b.offset;
}

export interface MariaDbGtid {
  readonly domain: number;
  readonly serverId: number;
  readonly seq: bigint;
}

export function formatMariaDbGtid(g: MariaDbGtid): string {
  return `${g.domain}-${g.serverId}-${g.seq}`;
}

/** Parses `@@gtid_binlog_pos`-style text: comma-separated `domain-server-seq`. */
export function parseMariaDbGtidList(text: string): MariaDbGtid[] {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  return trimmed.split(',').map((part) => {
    const m = /^\s*(\d+)-(\d+)-(\d+)\s*$/.exec(part);
    if (!m) throw new RangeError(`not a MariaDB GTID: ${JSON.stringify(part)}`);
    return { domain: Number(m[1]), serverId: Number(m[2]), seq: BigInt(m[3] as string) };
  });
}

/**
 * The position after `gtid` in `list`: the domain's entry is replaced, since a
 * MariaDB GTID position holds the last GTID of each domain.
 */
export function advanceMariaDbPosition(list: readonly MariaDbGtid[], gtid: MariaDbGtid): MariaDbGtid[] {
  return [...list.filter((g) => g.domain !== gtid.domain), gtid].sort((a, b) => a.domain - b.domain);
}

export function formatMariaDbGtidList(list: readonly MariaDbGtid[]): string {
  return list.map(formatMariaDbGtid).join(',');
}

/** A MySQL GTID set: per source UUID, closed intervals of transaction numbers. */
export class MySqlGtidSet {
  private readonly sids = new Map<string, [bigint, bigint][]>();

  static parse(text: string): MySqlGtidSet {
    const set = new MySqlGtidSet();
    for (const part of text.replace(/\s+/g, '').split(',').filter((p) => p !== '')) {
      const [uuid, ...ranges] = part.split(':');
      if (!uuid || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(uuid) || ranges.length === 0) {
        throw new RangeError(`not a MySQL GTID set: ${JSON.stringify(part)}`);
      }
      for (const range of ranges) {
        const m = /^(\d+)(?:-(\d+))?$/.exec(range);
        if (!m) throw new RangeError(`not a GTID interval: ${JSON.stringify(range)} (tagged GTIDs are not supported)`);
        set.addRange(uuid, BigInt(m[1] as string), BigInt(m[2] ?? (m[1] as string)));
      }
    }
    return set;
  }

  add(uuid: string, gno: bigint): void {
    this.addRange(uuid, gno, gno);
  }

  addRange(uuid: string, start: bigint, end: bigint): void {
    const key = uuid.toLowerCase();
    const list = [...(this.sids.get(key) ?? []), [start, end] as [bigint, bigint]].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const merged: [bigint, bigint][] = [];
    for (const [s, e] of list) {
      const last = merged[merged.length - 1];
      if (last && s <= last[1] + 1n) last[1] = e > last[1] ? e : last[1];
      else merged.push([s, e]);
    }
    this.sids.set(key, merged);
  }

  contains(uuid: string, gno: bigint): boolean {
    return (this.sids.get(uuid.toLowerCase()) ?? []).some(([s, e]) => gno >= s && gno <= e);
  }

  toString(): string {
    return [...this.sids.keys()].sort().map((uuid) =>
      `${uuid}:${(this.sids.get(uuid) ?? []).map(([s, e]) => (s === e ? `${s}` : `${s}-${e}`)).join(':')}`).join(',');
  }

  /** The set as COM_BINLOG_DUMP_GTID sends it: counts, raw UUIDs, half-open intervals. */
  encode(): Buffer {
    const uuids = [...this.sids.keys()].sort();
    const size = 8 + uuids.reduce((n, u) => n + 16 + 8 + 16 * (this.sids.get(u) ?? []).length, 0);
    const out = Buffer.alloc(size);
    let at = out.writeBigUInt64LE(BigInt(uuids.length), 0);
    for (const uuid of uuids) {
      at += Buffer.from(uuid.replace(/-/g, ''), 'hex').copy(out, at);
      const intervals = this.sids.get(uuid) ?? [];
      at = out.writeBigUInt64LE(BigInt(intervals.length), at);
      for (const [s, e] of intervals) {
        at = out.writeBigInt64LE(s, at);
        at = out.writeBigInt64LE(e + 1n, at);
      }
    }
    return out;
  }
}

/** 16 raw bytes as a UUID's text. */
export function formatUuid(raw: Buffer): string {
  const h = raw.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
