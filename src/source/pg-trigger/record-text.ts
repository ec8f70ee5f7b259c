import { FerryError } from '../../errors.js';

/**
 * Splits a row's composite text (`row::text`, as PostgreSQL's record_out
 * prints it) into its column values: `(1,,"a ""b""",x)` → ['1', null, 'a "b"', 'x'].
 * An empty unquoted field is NULL, `""` is the empty string; inside quotes
 * `""` and `\x` stand for `"` and `x`. Each value is the column's own text,
 * ready for the target to parse. With `limit`, stops after that many values.
 */
export function parseRecord(text: string, limit = Infinity): (string | null)[] {
  const end = text.length - 1;
  if (text.charCodeAt(0) !== 0x28 || text.charCodeAt(end) !== 0x29) throw malformed(text);
  const values: (string | null)[] = [];
  let i = 1;
  for (;;) {
    const c = text.charCodeAt(i);
    if (c === 0x2c || c === 0x29) {
      // Nothing between separators: NULL. (A single NULL column prints as "()".)
      values.push(null);
    } else if (c !== 0x22) {
      // record_out quotes any value holding a quote, backslash, comma, parenthesis or
      // space: an unquoted one runs to the next comma and needs no unescaping.
      const comma = text.indexOf(',', i);
      const stop = comma < 0 ? end : comma;
      values.push(text.slice(i, stop));
      i = stop;
    } else {
      let value = '';
      let quoted = false;
      for (; i < end; i++) {
        const ch = text.charCodeAt(i);
        if (ch === 0x5c) {
          value += text[++i];
        } else if (ch === 0x22) {
          if (quoted && text.charCodeAt(i + 1) === 0x22) value += text[++i];
          else quoted = !quoted;
        } else if (!quoted && (ch === 0x2c || ch === 0x29)) {
          break;
        } else {
          // Copy a run of plain characters at once.
          let j = i + 1;
          while (j < end) {
            const cj = text.charCodeAt(j);
            if (cj === 0x5c || cj === 0x22 || (!quoted && cj === 0x2c)) break;
            j++;
          }
          value += text.slice(i, j);
          i = j - 1;
        }
      }
      if (quoted) throw malformed(text);
      values.push(value);
    }
    if (i >= end || values.length >= limit) return values;
    if (text.charCodeAt(i) !== 0x2c) throw malformed(text);
    i++;
  }
}

function malformed(text: string): FerryError {
  return new FerryError('FERRY_TRIGGER_EVENT', `a queued row is not a composite value: ${text.slice(0, 80)}`,
    'the queue holds data ferry did not write: run "ferry drop" and "ferry init" again for this group');
}
