import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';

/**
 * Headless Chromium driven over the DevTools protocol on a pipe
 * (--remote-debugging-pipe: requests on fd 3, replies on fd 4, each message
 * NUL-terminated JSON), so tests need no WebSocket client or browser library.
 * Debian's `chromium` package; .ci/run installs it.
 */
export interface Page {
  /** Evaluates `expression` in the page and returns its value (JSON-serialisable). */
  evaluate<T>(expression: string): Promise<T>;
  /** A PNG of the whole viewport. */
  screenshot(): Promise<Buffer>;
  /** Console errors, uncaught exceptions and failed loads seen so far. */
  readonly errors: readonly string[];
  close(): Promise<void>;
}

/** A page in a fresh headless Chromium; a browser that fails to start (a busy machine) is given one more try. */
export async function openPage(url: string, viewport = { width: 1400, height: 1100 }): Promise<Page> {
  try {
    return await startPage(url, viewport);
  } catch {
    return startPage(url, viewport);
  }
}

async function startPage(url: string, viewport: { width: number; height: number }): Promise<Page> {
  const profile = await mkdtemp(path.join(tmpdir(), 'ferry-chromium-'));
  const child: ChildProcess = spawn(process.env.CHROMIUM ?? 'chromium', [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--hide-scrollbars', '--no-first-run',
    '--remote-debugging-pipe', `--user-data-dir=${profile}`, 'about:blank',
  ], { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
  const exited = new Promise<never>((_, reject) => {
    child.once('error', (err) => reject(new Error(`cannot start chromium (install Debian's chromium package): ${err.message}`)));
    child.once('exit', (code) => reject(new Error(`chromium exited with ${code}: ${stderr}`)));
  });
  exited.catch(() => undefined);
  const input = child.stdio[3] as Writable;
  const output = child.stdio[4] as Readable;
  const errors: string[] = [];
  const waiting = new Map<number, { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }>();
  let nextId = 0;
  let buffered = Buffer.alloc(0);
  let sessionId: string | undefined;
  output.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    for (let end = buffered.indexOf(0); end >= 0; end = buffered.indexOf(0)) {
      const message = JSON.parse(buffered.subarray(0, end).toString()) as {
        id?: number; result?: Record<string, unknown>; error?: { message: string }; method?: string; params?: Record<string, unknown>;
      };
      buffered = buffered.subarray(end + 1);
      if (message.id !== undefined) {
        const w = waiting.get(message.id);
        waiting.delete(message.id);
        if (message.error) w?.reject(new Error(message.error.message));
        else w?.resolve(message.result ?? {});
      } else {
        noteEvent(message.method, message.params ?? {}, errors);
      }
    }
  });
  const send = (method: string, params: Record<string, unknown> = {}, session = sessionId): Promise<Record<string, unknown>> => {
    const id = ++nextId;
    const reply = new Promise<Record<string, unknown>>((resolve, reject) => waiting.set(id, { resolve, reject }));
    input.write(`${JSON.stringify({ id, method, params, ...(session ? { sessionId: session } : {}) })}\0`);
    return Promise.race([reply, exited]);
  };
  try {
    const { targetId } = await send('Target.createTarget', { url: 'about:blank' }, undefined);
    sessionId = (await send('Target.attachToTarget', { targetId, flatten: true }, undefined)).sessionId as string;
    await send('Runtime.enable');
    await send('Log.enable');
    await send('Page.enable');
    await send('Emulation.setDeviceMetricsOverride', { width: viewport.width, height: viewport.height, deviceScaleFactor: 1, mobile: false });
    await send('Page.navigate', { url });
  } catch (err) {
    const gone = new Promise<void>((resolve) => { if (child.exitCode !== null || child.signalCode !== null) resolve(); else child.once('exit', () => resolve()); });
    child.kill('SIGKILL');
    await gone;
    // Its helper processes may still be writing the profile: the first error is the one to report.
    await removeProfile(profile);
    throw err;
  }
  return {
    errors,
    async evaluate<T>(expression: string): Promise<T> {
      const r = await send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true });
      if (r.exceptionDetails) throw new Error(`evaluating ${expression}: ${JSON.stringify(r.exceptionDetails)}`);
      return (r.result as { value: T }).value;
    },
    async screenshot(): Promise<Buffer> {
      const r = await send('Page.captureScreenshot', { format: 'png' });
      return Buffer.from(r.data as string, 'base64');
    },
    async close(): Promise<void> {
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      await gone;
      await removeProfile(profile);
    },
  };
}

async function removeProfile(profile: string): Promise<void> {
  await rm(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 }).catch(() => undefined);
}

function noteEvent(method: string | undefined, params: Record<string, unknown>, errors: string[]): void {
  if (method === 'Runtime.consoleAPICalled' && params.type === 'error') {
    errors.push(`console.error: ${JSON.stringify((params.args as { value?: unknown; description?: string }[]).map((a) => a.value ?? a.description))}`);
  } else if (method === 'Runtime.exceptionThrown') {
    const d = params.exceptionDetails as { text?: string; exception?: { description?: string } };
    errors.push(`exception: ${d.exception?.description ?? d.text}`);
  } else if (method === 'Log.entryAdded') {
    const entry = params.entry as { level: string; text: string; url?: string };
    if (entry.level === 'error') errors.push(`log: ${entry.text} ${entry.url ?? ''}`);
  }
}
