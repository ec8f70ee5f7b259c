import cliProgress from 'cli-progress';
import type { Logger } from '../observe/logger.js';
import { formatBytes } from '../cli/output.js';

/**
 * Progress of an initial copy: bars on a terminal (one per table being
 * copied, plus the total), structured log lines at intervals otherwise.
 * Bytes are what COPY moved; the estimate is the tables' heap size, so the
 * percentage and ETA are approximate while rows and rates are exact.
 */
export class CopyProgress {
  private readonly bars?: cliProgress.MultiBar;
  private readonly total?: cliProgress.SingleBar;
  private readonly tableBars = new Map<string, cliProgress.SingleBar>();
  private readonly tableBytes = new Map<string, number>();
  private readonly timer?: NodeJS.Timeout;
  private readonly started = Date.now();
  private bytes = 0;
  private rows = 0;
  private chunksDone = 0;

  constructor(
    private readonly group: string,
    private readonly estimatedBytes: number,
    private readonly chunks: number,
    private readonly log: Logger,
    interactive = process.stderr.isTTY === true,
  ) {
    if (interactive) {
      this.bars = new cliProgress.MultiBar({
        format: ' {name} |{bar}| {percentage}% | {done} | {rate}/s | ETA {eta_formatted}',
        hideCursor: true, clearOnComplete: false, stopOnComplete: false, stream: process.stderr,
      }, cliProgress.Presets.shades_classic);
      this.total = this.bars.create(Math.max(1, estimatedBytes), 0, { name: `${group} (total)`.padEnd(28), done: '', rate: '' });
    } else {
      this.timer = setInterval(() => this.logLine(), 5000);
      this.timer.unref();
    }
  }

  /** Bytes moved for a table, as they stream. */
  advance(table: string, tableEstimate: number, delta: number): void {
    this.bytes += delta;
    const tableBytes = (this.tableBytes.get(table) ?? 0) + delta;
    this.tableBytes.set(table, tableBytes);
    if (!this.bars || !this.total) return;
    let bar = this.tableBars.get(table);
    if (!bar) {
      bar = this.bars.create(Math.max(1, tableEstimate), 0, { name: table.slice(0, 28).padEnd(28), done: '', rate: '' });
      this.tableBars.set(table, bar);
    }
    bar.update(Math.min(tableBytes, Math.max(1, tableEstimate)), { done: formatBytes(tableBytes), rate: formatBytes(this.rate()) });
    this.updateTotal();
  }

  chunkDone(rows: number): void {
    this.rows += rows;
    this.chunksDone++;
    this.updateTotal();
  }

  private updateTotal(): void {
    this.total?.update(Math.min(this.bytes, Math.max(1, this.estimatedBytes)), {
      done: `${formatBytes(this.bytes)}, ${this.rows} rows, ${this.chunksDone}/${this.chunks} chunks`, rate: formatBytes(this.rate()),
    });
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.chunksDone === this.chunks) {
      // The estimate was heap size, not COPY bytes: a finished copy shows as finished.
      for (const bar of [...this.tableBars.values(), this.total]) bar?.update(bar.getTotal());
    }
    this.bars?.stop();
    this.logLine();
  }

  private rate(): number {
    return this.bytes / Math.max(0.001, (Date.now() - this.started) / 1000);
  }

  private logLine(): void {
    const rate = this.rate();
    const remaining = Math.max(0, this.estimatedBytes - this.bytes);
    this.log.info({
      chunks: `${this.chunksDone}/${this.chunks}`, rows: this.rows, bytes: this.bytes,
      bytesPerSecond: Math.round(rate), etaSeconds: this.chunksDone === this.chunks ? 0 : Math.round(remaining / Math.max(1, rate)),
    }, 'copy progress');
  }
}
