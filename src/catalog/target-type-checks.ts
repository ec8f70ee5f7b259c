import type pg from 'pg';
import { quoteLiteral } from '../pg/connect.js';
import { losslessInto } from './type-compat.js';
import { domainBases, typeByName, typeKindLabel, type UserType } from './user-types.js';

/**
 * Why a user-defined type the source tables use does not fit the target: a
 * type of that name that is of another kind, an enum that lacks labels, a
 * composite with other attributes, a domain over a narrower type, a range
 * over another subtype; or a type Ferry cannot create (from an extension,
 * written in C) that is missing. Missing enums, domains, composites and
 * ranges are no problem: they are created. `creating` holds the OIDs of the
 * types that tables to be created need (only those are created, and only
 * those have to exist).
 */
export async function typeProblems(
  target: pg.Client, targetVersion: number, group: string, types: readonly UserType[], creating: ReadonlySet<number>,
): Promise<string[]> {
  const problems: string[] = [];
  const domainBase = domainBases(types);
  for (const type of types) {
    const there = await typeByName(target, targetVersion, type.sql);
    const prefix = `group ${group}: type ${type.sql}`;
    if (!there) {
      if (type.kind === 'external' && creating.has(type.oid)) {
        problems.push(type.extension
          ? `${prefix} (from extension ${type.extension}) does not exist on the target: run CREATE EXTENSION IF NOT EXISTS ${type.extension}; on the target`
          : `${prefix} does not exist on the target and ferry cannot create it: create it on the target first`);
      }
      continue;
    }
    if (type.kind === 'external') continue;
    if (there.kind !== type.kind) {
      problems.push(`${prefix} is ${typeKindLabel(type)} on the source but ${typeKindLabel(there)} on the target: drop or rename the target's type, or make it match`);
      continue;
    }
    problems.push(...sameKindProblems(prefix, type, there, domainBase));
  }
  return problems;
}

function sameKindProblems(prefix: string, source: UserType, target: UserType, domainBase: (sql: string) => string | undefined): string[] {
  if (source.kind === 'enum' && target.kind === 'enum') return enumProblems(prefix, source.sql, source.labels, target.labels);
  if (source.kind === 'composite' && target.kind === 'composite') {
    // Composite values travel as text, `(v1,v2,…)`: attributes are matched by position.
    const want = source.attributes.map((a) => a.name);
    const have = target.attributes.map((a) => a.name);
    if (want.join('\u0000') !== have.join('\u0000')) {
      return [`${prefix} has attributes (${want.join(', ')}) on the source but (${have.join(', ')}) on the target: recreate it on the target with the source's attributes, in that order`];
    }
    return [];
  }
  if (source.kind === 'domain' && target.kind === 'domain' && !losslessInto(source.base, target.base, domainBase)) {
    return [`${prefix} is a domain over ${source.base} on the source but over ${target.base} on the target, which cannot hold every value: recreate it on the target over ${source.base}`];
  }
  if (source.kind === 'range' && target.kind === 'range' && source.subtype !== target.subtype) {
    return [`${prefix} is a range over ${source.subtype} on the source but over ${target.subtype} on the target: recreate it on the target over ${source.subtype}`];
  }
  return [];
}

/**
 * Every source label must exist on the target (extra target labels are
 * harmless). The fix adds a missing label after the source label before it
 * (run in the order given, the earlier fixes add that one first), so the
 * sort order stays the source's.
 */
function enumProblems(prefix: string, sql: string, sourceLabels: readonly string[], targetLabels: readonly string[]): string[] {
  const present = new Set(targetLabels);
  const problems: string[] = [];
  sourceLabels.forEach((label, i) => {
    if (present.has(label)) return;
    const before = sourceLabels[i - 1];
    const next = sourceLabels.slice(i + 1).find((l) => present.has(l));
    const where = before !== undefined ? ` AFTER ${quoteLiteral(before)}` : next !== undefined ? ` BEFORE ${quoteLiteral(next)}` : '';
    problems.push(`${prefix} lacks the label ${quoteLiteral(label)} on the target: run ALTER TYPE ${sql} ADD VALUE ${quoteLiteral(label)}${where}; on the target`);
  });
  return problems;
}
