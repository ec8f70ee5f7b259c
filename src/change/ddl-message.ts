/**
 * `ferry ddl`: a statement run on the source and recorded in the same source
 * transaction as a message in the group's stream, so that the target runs it
 * at exactly that place. The message comes before the statement's own
 * effects in the stream (it is written first), so changes after it already
 * find the target changed.
 */
export const DDL_PREFIX = 'ferry.ddl';

export interface DdlMessage {
  /** The groups whose targets run it: a statement must run on a target once. */
  readonly groups: readonly string[];
  readonly sql: string;
  /** The source session's search_path, under which the statement's names were meant. */
  readonly searchPath: string;
}

export function encodeDdl(message: DdlMessage): string {
  return JSON.stringify({ v: 1, ...message });
}

/** The message, or undefined for content this version does not know (a newer writer's). */
export function decodeDdl(content: Buffer | string): DdlMessage | undefined {
  try {
    const parsed = JSON.parse(content.toString()) as Partial<DdlMessage> & { v?: number };
    if (parsed.v !== 1 || !Array.isArray(parsed.groups) || typeof parsed.sql !== 'string' || typeof parsed.searchPath !== 'string') return undefined;
    return { groups: parsed.groups, sql: parsed.sql, searchPath: parsed.searchPath };
  } catch {
    return undefined;
  }
}
