/**
 * Whether a target column can take every value of a source column and give
 * it back unchanged. Rows travel as text, so the test is: every text the
 * source type produces is accepted by the target type and read back as the
 * same text and the same value. That holds for the same type and for a few
 * widenings: smallint → integer → bigint → numeric, numeric(p,s) →
 * numeric(p′≥p,s), varchar(n) → varchar(m≥n) or text, a larger or no
 * precision for time types and intervals, bit varying(n) → bit varying(m≥n),
 * real → double precision, and a domain → what its base type widens to.
 * Not: char(n) → text (the padding stops being insignificant), timestamp →
 * timestamptz (the text changes), json → jsonb (keys are reordered), a type
 * into a domain over it (the domain's checks may refuse values).
 *
 * Types are compared as format_type writes them, with user types
 * schema-qualified (see withQualifiedNames).
 */
export function losslessInto(source: string, target: string, domainBase: (type: string) => string | undefined): boolean {
  if (source === target) return true;
  const sourceArray = source.endsWith('[]');
  if (sourceArray !== target.endsWith('[]')) return false;
  if (sourceArray) return losslessInto(source.slice(0, -2), target.slice(0, -2), domainBase);
  if (scalarWidens(source, target)) return true;
  const base = domainBase(source);
  return base !== undefined && losslessInto(base, target, domainBase);
}

const INTEGER_DIGITS: Record<string, number> = { smallint: 5, integer: 10, bigint: 19 };

/** `name(args) rest` → parts; format_type puts a typmod right after the name (`timestamp(3) with time zone`). */
function parse(type: string): { name: string; mods: number[] } {
  const m = /^([a-z ]+?)(?:\(([\d,]+)\))?((?: [a-z ]+)?)$/.exec(type);
  if (!m) return { name: type, mods: [] };
  return { name: `${m[1]}${m[3] ?? ''}`, mods: m[2] ? m[2].split(',').map(Number) : [] };
}

/** Precision-like typmods: none means the widest. */
function atLeast(target: readonly number[], source: readonly number[]): boolean {
  if (target.length === 0) return true;
  if (source.length === 0) return false;
  return (target[0] ?? 0) >= (source[0] ?? 0);
}

function scalarWidens(source: string, target: string): boolean {
  const s = parse(source);
  const t = parse(target);
  const sourceDigits = INTEGER_DIGITS[s.name];
  if (sourceDigits !== undefined) {
    const targetDigits = INTEGER_DIGITS[t.name];
    if (targetDigits !== undefined) return targetDigits >= sourceDigits;
    // numeric(p) or numeric(p,0) keeps integers as they are; a scale would add ".00".
    if (t.name === 'numeric') return t.mods.length === 0 || ((t.mods[1] ?? 0) === 0 && (t.mods[0] ?? 0) >= sourceDigits);
    return false;
  }
  switch (s.name) {
    case 'numeric':
      if (t.name !== 'numeric') return false;
      if (t.mods.length === 0) return true;
      return s.mods.length > 0 && (t.mods[1] ?? 0) === (s.mods[1] ?? 0) && (t.mods[0] ?? 0) >= (s.mods[0] ?? 0);
    case 'character varying':
      return t.name === 'text' || (t.name === 'character varying' && atLeast(t.mods, s.mods));
    case 'text':
      return t.name === 'character varying' && t.mods.length === 0;
    case 'bit varying':
      return t.name === 'bit varying' && atLeast(t.mods, s.mods);
    case 'real':
      return t.name === 'double precision';
    case 'timestamp without time zone':
    case 'timestamp with time zone':
    case 'time without time zone':
    case 'time with time zone':
    case 'interval':
      return t.name === s.name && atLeast(t.mods, s.mods);
    default:
      return false;
  }
}
