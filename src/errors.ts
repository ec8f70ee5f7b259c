/**
 * Every error Ferry reports carries a stable code users can search for, a
 * message that names what failed (group, table, position) and, where we know
 * it, the fix. The CLI maps the error's exit code to the process exit status.
 */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  timeout: 3,
  /** A switchover that could not finish cleanly either way: the fence may still be up, or it is past the point of no return. */
  incomplete: 4,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export interface ErrorContext {
  readonly group?: string;
  readonly table?: string;
  readonly position?: string;
}

export class FerryError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  readonly exitCode: ExitCode;
  readonly context: ErrorContext;

  constructor(
    code: string,
    message: string,
    hint?: string,
    options: { exitCode?: ExitCode; context?: ErrorContext; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FerryError';
    this.code = code;
    this.hint = hint;
    this.exitCode = options.exitCode ?? ExitCode.failure;
    this.context = options.context ?? {};
  }

  /** One line for a human: code, what, where, and how to fix it. */
  describe(): string {
    const where = Object.entries(this.context)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    return `${this.code}: ${this.message}${where ? ` (${where})` : ''}${this.hint ? ` — fix: ${this.hint}` : ''}`;
  }
}

/** Bad configuration or command line: exit 2. */
export class ConfigError extends FerryError {
  constructor(message: string, hint?: string) {
    super('FERRY_CONFIG', message, hint, { exitCode: ExitCode.usage });
    this.name = 'ConfigError';
  }
}

/** Prerequisites on source or target are not met; each problem is listed. */
export class PrerequisiteError extends FerryError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    // One problem is one line; several are listed one per line under a count.
    super('FERRY_PREREQUISITES', problems.length === 1 ? String(problems[0])
      : `${problems.length} problems must be fixed first:\n  - ${problems.join('\n  - ')}`, undefined, { exitCode: ExitCode.usage });
    this.name = 'PrerequisiteError';
    this.problems = problems;
  }
}

/** Wraps whatever was thrown with the group (and table, position) it happened in. */
export function inContext(err: unknown, code: string, context: ErrorContext): FerryError {
  if (err instanceof FerryError) {
    if (Object.keys(err.context).length > 0) return err;
    return new FerryError(err.code, err.message, err.hint, { exitCode: err.exitCode, context, cause: err.cause });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new FerryError(code, message, undefined, { context, cause: err });
}
