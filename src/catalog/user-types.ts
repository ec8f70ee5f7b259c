import type pg from 'pg';
import { FIRST_USER_OID, typeOidSql, typeSql } from './catalog-sql.js';

/**
 * User-defined types as the catalog describes them, on either server: what
 * Ferry needs to create one on the target (enums, domains, composite and
 * range types) or to compare it with the type of the same name there. `sql`
 * is the qualified name as format_type writes it, e.g. `"Sales".mood`.
 */
export type UserType = EnumType | DomainType | CompositeType | RangeType | ExternalType;

interface TypeBase {
  readonly oid: number;
  readonly schema: string;
  readonly name: string;
  readonly sql: string;
}

export interface EnumType extends TypeBase {
  readonly kind: 'enum';
  readonly labels: readonly string[];
}

export interface DomainType extends TypeBase {
  readonly kind: 'domain';
  readonly base: string;
  readonly baseOid: number;
  readonly notNull: boolean;
  readonly default: string | null;
  readonly collation: string | null;
  readonly checks: readonly { readonly name: string; readonly definition: string }[];
}

export interface CompositeAttribute {
  readonly name: string;
  readonly type: string;
  readonly typeOid: number;
  readonly collation: string | null;
}

export interface CompositeType extends TypeBase {
  readonly kind: 'composite';
  readonly attributes: readonly CompositeAttribute[];
}

export interface RangeType extends TypeBase {
  readonly kind: 'range';
  readonly subtype: string;
  readonly subtypeOid: number;
  readonly collation: string | null;
  /** Written only when it is not the subtype's default operator class. */
  readonly opclass: string | null;
  readonly diff: string | null;
}

/**
 * A type Ferry cannot create: a base type written in C, one that belongs to
 * an extension, the row type of a table, a range with a canonical function.
 * It has to exist on the target already.
 */
export interface ExternalType extends TypeBase {
  readonly kind: 'external';
  readonly extension: string | null;
}

interface TypeRow {
  oid: number; schema: string; name: string; sql: string; typtype: string;
  element_of: number | null; multirange_of: number | null; relkind: string | null; extension: string | null;
  base_oid: number; base: string | null; not_null: boolean; default: string | null; collation: string | null;
  labels: string[]; checks: { name: string; definition: string }[]; attributes: CompositeAttribute[];
  range: { subtype: string; subtypeOid: number; collation: string | null; opclass: string; defaultOpclass: boolean; diff: string | null; canonical: string | null } | null;
}

/** What one catalog row says: a user type, or the type that an array or multirange stands for. */
type Described = { readonly type: UserType } | { readonly standsFor: number };

async function describeType(client: pg.Client, version: number, oid: number): Promise<Described | undefined> {
  const row = (await client.query<TypeRow>(typeSql(version), [oid])).rows[0];
  if (!row) return undefined;
  // Arrays and multiranges come into being with their element or range type.
  if (row.element_of !== null) return { standsFor: row.element_of };
  if (row.multirange_of !== null) return { standsFor: row.multirange_of };
  const base = { oid: row.oid, schema: row.schema, name: row.name, sql: row.sql };
  if (row.extension !== null) return { type: { ...base, kind: 'external', extension: row.extension } };
  if (row.typtype === 'e') return { type: { ...base, kind: 'enum', labels: row.labels } };
  if (row.typtype === 'd' && row.base !== null) {
    return { type: { ...base, kind: 'domain', base: row.base, baseOid: row.base_oid, notNull: row.not_null, default: row.default, collation: row.collation, checks: row.checks } };
  }
  if (row.typtype === 'c' && row.relkind === 'c') return { type: { ...base, kind: 'composite', attributes: row.attributes } };
  if (row.typtype === 'r' && row.range && row.range.canonical === null) {
    const r = row.range;
    return { type: { ...base, kind: 'range', subtype: r.subtype, subtypeOid: r.subtypeOid, collation: r.collation, opclass: r.defaultOpclass ? null : r.opclass, diff: r.diff } };
  }
  return { type: { ...base, kind: 'external', extension: null } };
}

/** The types a type needs to exist before it can be created. */
function dependencies(type: UserType): number[] {
  switch (type.kind) {
    case 'domain': return [type.baseOid];
    case 'composite': return type.attributes.map((a) => a.typeOid);
    case 'range': return [type.subtypeOid];
    default: return [];
  }
}

/**
 * The user-defined types behind the given type OIDs (columns' types), with
 * every type they are built from (a domain's base, a composite's attributes,
 * a range's subtype, an array's element), each once, dependencies first: the
 * order to create them in. Built-in types are left out.
 */
export async function typeClosure(client: pg.Client, version: number, roots: readonly number[]): Promise<UserType[]> {
  const ordered: UserType[] = [];
  const seen = new Set<number>();
  const visit = async (oid: number): Promise<void> => {
    if (oid < FIRST_USER_OID || seen.has(oid)) return;
    seen.add(oid);
    const described = await describeType(client, version, oid);
    if (!described) return;
    if ('standsFor' in described) return visit(described.standsFor);
    if (described.type.kind !== 'external') {
      for (const dep of dependencies(described.type)) await visit(dep);
    }
    ordered.push(described.type);
  };
  for (const oid of roots) await visit(oid);
  return ordered;
}

export async function typeExists(client: pg.Client, sql: string): Promise<boolean> {
  return (await client.query<{ oid: number | null }>(typeOidSql, [sql])).rows[0]?.oid != null;
}

/** The type of that (qualified) name on this server, or undefined if there is none. */
export async function typeByName(client: pg.Client, version: number, sql: string): Promise<UserType | undefined> {
  const oid = (await client.query<{ oid: number | null }>(typeOidSql, [sql])).rows[0]?.oid;
  if (oid == null) return undefined;
  const described = await describeType(client, version, oid);
  return described && 'type' in described ? described.type : undefined;
}

/** Looks up the base type of a domain among `types` by its qualified name. */
export function domainBases(types: readonly UserType[]): (sql: string) => string | undefined {
  const bases = new Map(types.flatMap((t) => (t.kind === 'domain' ? [[t.sql, t.base] as const] : [])));
  return (sql) => bases.get(sql);
}

export function typeKindLabel(type: UserType): string {
  switch (type.kind) {
    case 'enum': return 'an enum';
    case 'domain': return 'a domain';
    case 'composite': return 'a composite type';
    case 'range': return 'a range type';
    default: return 'a type ferry does not create';
  }
}
