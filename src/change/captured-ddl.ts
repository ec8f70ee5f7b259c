/**
 * DDL captured by the source's event trigger (`source.ddl: capture`): not
 * the statement, which may hold several statements and DML, but the
 * definition of the table it changed, read from the source catalog at the
 * end of the command, in the DDL's own transaction. The target brings its
 * table in line with that definition at exactly that place in the stream.
 * The SQL that writes these messages is in source/ddl-capture/.
 */
export const CAPTURED_DDL_PREFIX = 'ferry.ddl_capture';

/** A column of the table, in attribute order (generated columns left out, as the stream leaves them out). */
export interface DefinedColumn {
  readonly attnum: number;
  readonly name: string;
  readonly typeOid: number;
  readonly typeMod: number;
  /** format_type, names qualified where they are not built in. */
  readonly type: string;
  readonly notNull: boolean;
  /** pg_get_expr of the default, names qualified; null without one. */
  readonly default: string | null;
  /** What existing rows read for a column added with a constant default (attmissingval, a one-element array literal). */
  readonly missing: string | null;
  readonly isArray: boolean;
  /** Part of the replica identity, as pgoutput flags the column. */
  readonly isKey: boolean;
  /** The column's collation where it is not its type's own (qualified); absent from messages of earlier versions. */
  readonly collation?: string | null;
}

export interface DefinedIndex {
  readonly oid: number;
  readonly name: string;
  /** pg_get_indexdef: `CREATE [UNIQUE] INDEX name ON schema.table USING …`. */
  readonly definition: string;
  readonly primary: boolean;
  readonly identity: boolean;
  /** Built for a primary key, unique or exclusion constraint: it comes and goes with that constraint. */
  readonly constraint: boolean;
}

/** A check, primary key, unique or exclusion constraint (foreign keys are left to the end of a switchover, as init leaves them). */
export interface DefinedConstraint {
  readonly name: string;
  readonly type: string;
  /** pg_get_constraintdef. */
  readonly definition: string;
}

export interface TableDefinition {
  readonly oid: number;
  readonly schema: string;
  readonly name: string;
  /** pg_class.relreplident: d(efault), n(othing), f(ull), i(ndex). */
  readonly replicaIdentity: string;
  readonly columns: readonly DefinedColumn[];
  readonly indexes: readonly DefinedIndex[];
  readonly constraints: readonly DefinedConstraint[];
}

export interface CapturedDdl {
  /** The groups whose targets act on it. */
  readonly groups: readonly string[];
  /** The command tag (ALTER TABLE, CREATE INDEX, DROP INDEX, …). */
  readonly tag: string;
  /** The client's query string, shortened: for the log only, never run. */
  readonly query: string;
  /** Indexes a DROP INDEX removed (their table's definition no longer names them). */
  readonly dropped: readonly string[];
  readonly definition: TableDefinition;
}

/** The message, or undefined for content this version does not know (a newer writer's). */
export function decodeCapturedDdl(content: Buffer | string): CapturedDdl | undefined {
  try {
    const parsed = JSON.parse(content.toString()) as Partial<CapturedDdl> & { v?: number };
    const def = parsed.definition;
    if (parsed.v !== 1 || !Array.isArray(parsed.groups) || typeof parsed.tag !== 'string' || !def || typeof def.oid !== 'number'
      || !Array.isArray(def.columns) || !Array.isArray(def.indexes) || !Array.isArray(def.constraints)) return undefined;
    return { groups: parsed.groups, tag: parsed.tag, query: String(parsed.query ?? ''), dropped: parsed.dropped ?? [], definition: def };
  } catch {
    return undefined;
  }
}

/** The source table a captured definition (a message of the stream) is about, or undefined for any other message. */
export function capturedTableOf(event: { readonly prefix: string; readonly content: Buffer }): { readonly oid: number; readonly schema: string; readonly name: string } | undefined {
  if (event.prefix !== CAPTURED_DDL_PREFIX) return undefined;
  const definition = decodeCapturedDdl(event.content)?.definition;
  return definition && { oid: definition.oid, schema: definition.schema, name: definition.name };
}
