import { ConfigError } from '../errors.js';
import { parseTableRef, type TableRef } from '../config/schema.js';

/** `--tables public.a,"Sales"."x,y",app.order_*`: commas inside quoted names do not separate. */
export function parseTableList(text: string): TableRef[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (const c of text) {
    if (c === '"') quoted = !quoted;
    if (c === ',' && !quoted) {
      parts.push(current);
      current = '';
    } else {
      current += c;
    }
  }
  parts.push(current);
  return parts.filter((p) => p.trim() !== '').map((p) => {
    const ref = parseTableRef(p);
    if (typeof ref === 'string') throw new ConfigError(`--tables: ${ref}`);
    return ref;
  });
}
