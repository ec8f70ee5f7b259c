/**
 * What a statement the binlog logs as text (a QUERY event) does to tables:
 * TRUNCATE of a table, a schema change naming tables (ALTER, RENAME, DROP,
 * CREATE, CREATE/DROP INDEX, DROP DATABASE), or nothing a replica of rows
 * needs to know. Read with a tokenizer that knows MySQL's quoting and
 * comments, so a name in a string literal or a comment is never taken for
 * a table, and a quoted name with dots or spaces is one name.
 */

export interface TableName {
  /** The database as written, or the statement's default database for an unqualified name ('' when it has none). */
  readonly database: string;
  readonly table: string;
}

export type StatementEffect =
  | { readonly kind: 'truncate'; readonly table: TableName }
  /**
   * A schema change: the tables it names, and the databases DROP DATABASE drops.
   * `replacesRows`: afterwards a named table may hold other rows than before, with no row events
   * to say which (a table dropped, created, renamed into the name; partitions dropped, truncated
   * or exchanged): a replica that held the old rows holds the wrong ones.
   */
  | {
      readonly kind: 'schema'; readonly verb: string; readonly tables: readonly TableName[]; readonly databases: readonly string[];
      readonly replacesRows: boolean;
    }
  /** Rows changed by a statement logged as text (binlog_format STATEMENT or MIXED in the writing session): the tables it names. */
  | { readonly kind: 'dml'; readonly verb: string; readonly tables: readonly TableName[] }
  | { readonly kind: 'other' };

/** `sql_mode` bits that change how a statement is tokenized (the same in MySQL and MariaDB). */
export const SQL_MODE_ANSI_QUOTES = 1n << 2n;
export const SQL_MODE_NO_BACKSLASH_ESCAPES = 1n << 21n;

export type Token =
  | { readonly kind: 'word'; readonly text: string; readonly upper: string }
  /** A backquoted identifier (or a double-quoted one under ANSI_QUOTES), unquoted. */
  | { readonly kind: 'quoted'; readonly text: string }
  | { readonly kind: 'string'; readonly text: string }
  | { readonly kind: 'punct'; readonly text: string };

/**
 * Tokens of `sql`, comments dropped. `/*! … *\/` and `/*M! … *\/` are
 * executable comments (the server runs their text): their contents are kept
 * as tokens, whatever version number they carry.
 */
export function tokenize(sql: string, sqlMode = 0n): Token[] {
  const ansiQuotes = (sqlMode & SQL_MODE_ANSI_QUOTES) !== 0n;
  const backslash = (sqlMode & SQL_MODE_NO_BACKSLASH_ESCAPES) === 0n;
  const tokens: Token[] = [];
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i] as string;
    if (/\s/.test(c)) { i++; continue; }
    if (c === '#' || (c === '-' && sql[i + 1] === '-' && (i + 2 >= n || /\s/.test(sql[i + 2] as string)))) {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? n : end + 1;
      continue;
    }
    if (c === '/' && sql[i + 1] === '*') {
      const executable = /^\/\*M?!\d*/.exec(sql.slice(i, i + 12));
      if (executable) {
        // The contents are code: step over the opening only; the closing `*/` is dropped below.
        i += executable[0].length;
        continue;
      }
      const end = sql.indexOf('*/', i + 2);
      i = end < 0 ? n : end + 2;
      continue;
    }
    if (c === '*' && sql[i + 1] === '/') { i += 2; continue; }
    if (c === '`' || (c === '"' && ansiQuotes)) {
      const [text, next] = quoted(sql, i, c, false);
      tokens.push({ kind: 'quoted', text });
      i = next;
      continue;
    }
    if (c === "'" || c === '"') {
      const [text, next] = quoted(sql, i, c, backslash);
      tokens.push({ kind: 'string', text });
      i = next;
      continue;
    }
    const word = /^[\p{L}\p{N}_$\u0080-\uffff]+/u.exec(sql.slice(i, i + 256));
    if (word) {
      // Names may start with digits (`1t`): words and numbers are one kind of token here.
      tokens.push({ kind: 'word', text: word[0], upper: word[0].toUpperCase() });
      i += word[0].length;
      continue;
    }
    tokens.push({ kind: 'punct', text: c });
    i++;
  }
  return tokens;
}

/** A quoted token from `start` (its opening quote): its text with doubled quotes (and, for strings, backslash escapes) undone. */
function quoted(sql: string, start: number, quote: string, backslash: boolean): [string, number] {
  let text = '';
  let i = start + 1;
  while (i < sql.length) {
    const c = sql[i] as string;
    if (backslash && c === '\\' && i + 1 < sql.length) {
      text += sql[i + 1];
      i += 2;
      continue;
    }
    if (c === quote) {
      if (sql[i + 1] === quote) {
        text += quote;
        i += 2;
        continue;
      }
      return [text, i + 1];
    }
    text += c;
    i++;
  }
  // Unterminated: the server would not have run it; what there is is the text.
  return [text, i];
}

/** What `sql`, run with default database `database`, does to tables. */
export function statementEffect(sql: string, database: string, sqlMode = 0n): StatementEffect {
  const t = new Cursor(tokenize(sql, sqlMode), database);
  const verb = t.word();
  switch (verb) {
    case 'TRUNCATE': {
      t.accept('TABLE');
      const table = t.name();
      return table ? { kind: 'truncate', table } : { kind: 'other' };
    }
    case 'ALTER': {
      t.acceptAll('ONLINE', 'OFFLINE', 'IGNORE');
      if (!t.accept('TABLE')) return { kind: 'other' };
      t.acceptIfExists();
      const table = t.name();
      if (!table) return { kind: 'other' };
      // Other tables an ALTER names: RENAME [TO|AS] new, EXCHANGE PARTITION … WITH TABLE other.
      const tables = [table];
      let replacesRows = false;
      while (!t.done) {
        if (t.accept('RENAME')) {
          if (t.peekWord() === 'COLUMN' || t.peekWord() === 'INDEX' || t.peekWord() === 'KEY' || t.peekWord() === 'CONSTRAINT') continue;
          t.acceptAll('TO', 'AS');
          const to = t.name();
          if (to) tables.push(to);
          replacesRows = true;
          continue;
        }
        const word = t.word();
        if (word === undefined) {
          t.skip();
          continue;
        }
        if ((word === 'DROP' || word === 'TRUNCATE' || word === 'EXCHANGE') && t.accept('PARTITION')) replacesRows = true;
        if (word === 'WITH' && t.accept('TABLE')) {
          const other = t.name();
          if (other) tables.push(other);
        }
      }
      return { kind: 'schema', verb: 'ALTER TABLE', tables, databases: [], replacesRows };
    }
    case 'RENAME': {
      if (!t.accept('TABLE') && !t.accept('TABLES')) return { kind: 'other' };
      t.acceptIfExists();
      const tables: TableName[] = [];
      for (;;) {
        const from = t.name();
        if (!from) break;
        tables.push(from);
        t.acceptWaitClause();
        if (!t.accept('TO')) break;
        const to = t.name();
        if (!to) break;
        tables.push(to);
        if (!t.acceptPunct(',')) break;
        t.acceptIfExists();
      }
      return { kind: 'schema', verb: 'RENAME TABLE', tables, databases: [], replacesRows: true };
    }
    case 'DROP': {
      if (t.accept('TEMPORARY')) return { kind: 'other' };
      if (t.accept('DATABASE') || t.accept('SCHEMA')) {
        t.acceptIfExists();
        const db = t.identifier();
        return db === undefined ? { kind: 'other' } : { kind: 'schema', verb: 'DROP DATABASE', tables: [], databases: [db], replacesRows: true };
      }
      if (t.accept('INDEX')) return indexOn(t, 'DROP INDEX');
      if (!t.accept('TABLE') && !t.accept('TABLES')) return { kind: 'other' };
      t.acceptIfExists();
      return { kind: 'schema', verb: 'DROP TABLE', tables: t.nameList(), databases: [], replacesRows: true };
    }
    case 'CREATE': {
      const orReplace = t.accept('OR') && t.accept('REPLACE');
      t.acceptAll('ONLINE', 'OFFLINE', 'UNIQUE', 'FULLTEXT', 'SPATIAL');
      if (t.accept('INDEX')) return indexOn(t, 'CREATE INDEX');
      if (t.accept('TEMPORARY')) return { kind: 'other' };
      if (!t.accept('TABLE')) return { kind: 'other' };
      // IF NOT EXISTS of a table that exists changes nothing; one that did not exist was dropped before, which was the news.
      if (t.accept('IF')) return { kind: 'other' };
      const table = t.name();
      if (!table) return { kind: 'other' };
      return { kind: 'schema', verb: orReplace ? 'CREATE OR REPLACE TABLE' : 'CREATE TABLE', tables: [table], databases: [], replacesRows: true };
    }
    case 'INSERT':
    case 'REPLACE':
    case 'UPDATE':
    case 'DELETE':
    case 'LOAD':
      return { kind: 'dml', verb, tables: dmlTables(t, verb) };
    default:
      return { kind: 'other' };
  }
}

/** Keywords after which a DML statement names tables (UPDATE's list follows the verb itself). */
const TABLES_AFTER = new Set(['INTO', 'FROM', 'JOIN', 'TABLE', 'USING', 'STRAIGHT_JOIN']);
/** Modifiers that may stand between such a keyword and the names. */
const MODIFIERS = new Set(['LOW_PRIORITY', 'DELAYED', 'HIGH_PRIORITY', 'IGNORE', 'QUICK', 'CONCURRENT', 'LOCAL']);

/**
 * The tables a DML statement names: every name list after INTO, FROM, JOIN,
 * TABLE, USING (and UPDATE's own). It may name more than the statement
 * writes (a table it only reads, an alias): enough to tell that a group
 * table may have been written without rows in the binlog.
 */
function dmlTables(t: Cursor, verb: string): TableName[] {
  const tables: TableName[] = [];
  let listing = verb === 'UPDATE';
  while (!t.done) {
    if (listing) {
      while (MODIFIERS.has(t.peekWord() ?? '')) t.skip();
      tables.push(...t.nameList());
      listing = false;
      continue;
    }
    const word = t.word();
    if (word === undefined) t.skip();
    else listing = TABLES_AFTER.has(word);
  }
  return tables;
}

/** `[IF [NOT] EXISTS] name [ON] table …` of CREATE/DROP INDEX. */
function indexOn(t: Cursor, verb: string): StatementEffect {
  t.acceptIfExists();
  t.identifier();
  while (!t.done && !t.accept('ON')) t.skip();
  const table = t.name();
  return table ? { kind: 'schema', verb, tables: [table], databases: [], replacesRows: false } : { kind: 'other' };
}

class Cursor {
  private at = 0;
  constructor(private readonly tokens: readonly Token[], private readonly database: string) {}

  get done(): boolean {
    return this.at >= this.tokens.length;
  }

  skip(): void {
    this.at++;
  }

  peekWord(): string | undefined {
    const token = this.tokens[this.at];
    return token?.kind === 'word' ? token.upper : undefined;
  }

  word(): string | undefined {
    const w = this.peekWord();
    if (w !== undefined) this.at++;
    return w;
  }

  accept(word: string): boolean {
    if (this.peekWord() !== word) return false;
    this.at++;
    return true;
  }

  acceptAll(...words: string[]): void {
    while (words.some((w) => this.accept(w)));
  }

  acceptPunct(text: string): boolean {
    const token = this.tokens[this.at];
    if (token?.kind !== 'punct' || token.text !== text) return false;
    this.at++;
    return true;
  }

  acceptIfExists(): void {
    if (this.peekWord() !== 'IF') return;
    this.at++;
    this.accept('NOT');
    this.accept('EXISTS');
  }

  /** MariaDB's `WAIT n` / `NOWAIT` after a table name. */
  acceptWaitClause(): void {
    if (this.accept('NOWAIT')) return;
    if (this.accept('WAIT')) this.at++;
  }

  /** A name: a word (not a bare keyword-like punctuation) or a quoted identifier. */
  identifier(): string | undefined {
    const token = this.tokens[this.at];
    if (token?.kind === 'quoted' || token?.kind === 'word') {
      this.at++;
      return token.text;
    }
    return undefined;
  }

  /** `db.table`, `table`, quoted or not. */
  name(): TableName | undefined {
    const first = this.identifier();
    if (first === undefined) return undefined;
    if (this.acceptPunct('.')) {
      const second = this.identifier();
      if (second === undefined) return undefined;
      return { database: first, table: second };
    }
    return { database: this.database, table: first };
  }

  nameList(): TableName[] {
    const names: TableName[] = [];
    for (;;) {
      const name = this.name();
      if (!name) break;
      names.push(name);
      this.acceptWaitClause();
      if (!this.acceptPunct(',')) break;
    }
    return names;
  }
}
