/**
 * The current user's privileges as `SHOW GRANTS` lists them, MySQL 8 and
 * MariaDB 10.6+ alike. Only what a binlog source needs is answered: global
 * privileges (`ON *.*`), and privileges on a table, which a grant on the
 * table, on its database (a database name may be a LIKE pattern: `app\_%`)
 * or on every database gives. `ALL [PRIVILEGES]` holds every privilege of
 * its level; column grants (`SELECT (id)`) do not cover a table; grants of
 * routines, proxy grants and role grants (`GRANT r TO u`) give nothing here.
 */
export class GrantSet {
  private readonly global = new Set<string>();
  private readonly databases: { readonly pattern: RegExp; readonly privileges: Set<string> }[] = [];
  private readonly tables = new Map<string, Set<string>>();

  static parse(lines: readonly string[]): GrantSet {
    const set = new GrantSet();
    for (const line of lines) set.add(line);
    return set;
  }

  /** A privilege on `*.*` (`REPLICATION SLAVE`, `RELOAD`, `BINLOG MONITOR` …); names in upper case with single spaces. */
  hasGlobal(privilege: string): boolean {
    return this.global.has(privilege) || this.global.has('ALL');
  }

  /** A table-level privilege (`SELECT`, `LOCK TABLES`) on `database`.`table`, from any level that gives it. */
  hasOnTable(privilege: string, database: string, table: string): boolean {
    const holds = (s: Set<string> | undefined) => s !== undefined && (s.has(privilege) || s.has('ALL'));
    if (holds(this.global)) return true;
    if (this.databases.some((d) => d.pattern.test(database) && holds(d.privileges))) return true;
    return holds(this.tables.get(`${database}\0${table}`));
  }

  private add(line: string): void {
    const m = /^GRANT\s+(.+?)\s+ON\s+(?:TABLE\s+)?((?:`(?:[^`]|``)*`|\*|[^\s.`]+)\.(?:`(?:[^`]|``)*`|\*|[^\s`]+))\s+TO\s/is.exec(line.trim());
    if (!m) return; // a role grant, or PROXY / PROCEDURE / FUNCTION grants
    const privileges = new Set(splitPrivileges(m[1] as string));
    const [database, table] = splitTarget(m[2] as string);
    if (database === '*' && table === '*') {
      for (const p of privileges) this.global.add(p);
    } else if (table === '*') {
      this.databases.push({ pattern: likePattern(database), privileges });
    } else {
      const key = `${database}\0${table}`;
      const existing = this.tables.get(key) ?? new Set<string>();
      for (const p of privileges) existing.add(p);
      this.tables.set(key, existing);
    }
  }
}

/** `SELECT, INSERT (a, b), ALL PRIVILEGES` → `SELECT`, `ALL`; a privilege with a column list is left out. */
function splitPrivileges(list: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of list) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  out.push(current);
  return out
    .map((p) => p.trim())
    .filter((p) => p !== '' && !p.includes('('))
    .map((p) => p.replace(/\s+/g, ' ').toUpperCase())
    .map((p) => (p === 'ALL PRIVILEGES' ? 'ALL' : p));
}

function splitTarget(target: string): [string, string] {
  const parts: string[] = [];
  const re = /`((?:[^`]|``)*)`|([^.`]+)/g;
  for (let m = re.exec(target); m; m = re.exec(target)) {
    parts.push(m[1] !== undefined ? m[1].replace(/``/g, '`') : (m[2] as string));
  }
  return [parts[0] ?? '', parts[1] ?? ''];
}

/** A database name of a grant: `_` and `%` are wildcards unless escaped with `\`. */
function likePattern(name: string): RegExp {
  let re = '';
  for (let i = 0; i < name.length; i++) {
    const ch = name[i] as string;
    if (ch === '\\' && i + 1 < name.length) {
      re += escapeRegExp(name[++i] as string);
    } else if (ch === '_') {
      re += '.';
    } else if (ch === '%') {
      re += '.*';
    } else {
      re += escapeRegExp(ch);
    }
  }
  return new RegExp(`^${re}$`, 's');
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
