import type pg from 'pg';
import { dependenciesSql, objectExistsSql } from './catalog-sql.js';

/**
 * A user-made object that a table Ferry recreates needs and that Ferry does
 * not create itself: a function in a default, CHECK or index expression, an
 * operator class of an index, a collation, a text search configuration.
 * `type`, `names` and `args` are its address (pg_identify_object_as_address),
 * which finds the same object on another server.
 */
export interface ObjectDependency {
  readonly description: string;
  readonly type: string;
  readonly names: readonly string[];
  readonly args: readonly string[];
  readonly extension: string | null;
}

/** What the given relations (with their indexes) and types depend on. */
export async function objectDependencies(client: pg.Client, relationOids: readonly number[], typeOids: readonly number[]): Promise<ObjectDependency[]> {
  return (await client.query<ObjectDependency>(dependenciesSql, [relationOids, typeOids])).rows;
}

/** Whether the object exists on this server (pg_get_object_address fails when it does not). */
export async function dependencyExists(client: pg.Client, dep: ObjectDependency): Promise<boolean> {
  try {
    return (await client.query<{ ok: boolean }>(objectExistsSql, [dep.type, dep.names, dep.args])).rows[0]?.ok === true;
  } catch {
    return false;
  }
}
