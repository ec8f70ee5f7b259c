import type pg from 'pg';
import { ConfigError, FerryError } from '../errors.js';
import { switchoverSql } from './switchover-sql.js';

/** `--fence`: which writers are kept off the source while it switches over. */
export type FenceMode = { readonly mode: 'roles'; readonly roles: readonly string[] } | { readonly mode: 'database' } | { readonly mode: 'none' };

/**
 * What a fence changed, with the settings it replaced: lifting it puts
 * exactly these back. Recorded on the target before the fence is put up, so
 * a re-run after a crash lifts it right even though the source then shows
 * only the fenced values.
 */
export interface FenceRecord {
  readonly mode: FenceMode['mode'];
  readonly database: string;
  /** roles: each fenced role, whether it could log in, and its own default_transaction_read_only in the database before. */
  readonly roles: readonly { readonly name: string; readonly canLogin: boolean; readonly readOnly: string | null }[];
  /** database: the database's default_transaction_read_only before, and Ferry's role's own setting in it before. */
  readonly databaseReadOnly?: string | null;
  readonly ferryRole?: { readonly name: string; readonly readOnly: string | null };
}

export function parseFence(text: string): FenceMode {
  if (text === 'database' || text === 'none') return { mode: text };
  const match = /^roles:(.+)$/.exec(text);
  const roles = match?.[1]?.split(',').map((r) => r.trim()).filter((r) => r.length > 0) ?? [];
  if (roles.length === 0) throw new ConfigError(`--fence ${text}: expected roles:NAME[,NAME…], database or none`);
  return { mode: 'roles', roles };
}

export function describeFence(fence: FenceRecord | FenceMode): string {
  if (fence.mode === 'roles') return `roles ${fence.roles.map((r) => (typeof r === 'string' ? r : r.name)).join(', ')} read-only and NOLOGIN, their sessions ended`;
  if (fence.mode === 'database') return 'the database read-only for every role but Ferry\'s, other sessions ended';
  return 'none (the writers were stopped by the operator; Ferry checks that no write arrives)';
}

interface SourceRole { name: string; database: string; superuser: boolean; createrole: boolean; owns_database: boolean }

export async function sourceRole(source: pg.Client): Promise<SourceRole> {
  return (await source.query<SourceRole>(switchoverSql.sourceRole)).rows[0] as SourceRole;
}

/** Why the fence cannot be put up (nothing is changed here): one line per problem, with its fix. */
export async function fenceProblems(source: pg.Client, fence: FenceMode): Promise<string[]> {
  const me = await sourceRole(source);
  const problems: string[] = [];
  if (fence.mode === 'roles') {
    const found = new Set((await source.query<{ name: string }>(switchoverSql.roleSettings, [fence.roles])).rows.map((r) => r.name));
    for (const role of fence.roles) {
      if (!found.has(role)) problems.push(`--fence: role ${role} does not exist on the source`);
      if (role === me.name) problems.push(`--fence: role ${role} is the one Ferry uses on the source, which must stay able to write: fence the application's roles only`);
    }
    if (!me.superuser && !me.createrole) problems.push(`--fence roles needs CREATEROLE (or a superuser) for the source role ${me.name}: ALTER ROLE ${me.name} CREATEROLE;`);
  }
  if (fence.mode === 'database' && !me.superuser && !(me.owns_database && me.createrole)) {
    problems.push(`--fence database needs the source role ${me.name} to own database ${me.database} and have CREATEROLE (or be a superuser)`);
  }
  return problems;
}

/** Reads what the fence is about to change: the record to store before putting it up. */
export async function planFence(source: pg.Client, fence: FenceMode): Promise<FenceRecord> {
  const me = await sourceRole(source);
  if (fence.mode === 'roles') {
    const rows = (await source.query<{ name: string; can_login: boolean; read_only: string | null }>(switchoverSql.roleSettings, [fence.roles])).rows;
    return { mode: 'roles', database: me.database, roles: rows.map((r) => ({ name: r.name, canLogin: r.can_login, readOnly: r.read_only })) };
  }
  if (fence.mode === 'database') {
    const db = (await source.query<{ read_only: string | null }>(switchoverSql.databaseSetting)).rows[0]?.read_only ?? null;
    const mine = (await source.query<{ read_only: string | null }>(switchoverSql.roleSettings, [[me.name]])).rows[0]?.read_only ?? null;
    return { mode: 'database', database: me.database, roles: [], databaseReadOnly: db, ferryRole: { name: me.name, readOnly: mine } };
  }
  return { mode: 'none', database: me.database, roles: [] };
}

/**
 * Puts the fence up; safe to repeat. New sessions of the fenced roles (or of
 * every role but Ferry's) start read-only or cannot log in at all, and the
 * open ones are ended, so their uncommitted transactions roll back and
 * nothing they do reaches the source after the drain's marker. Ferry's own
 * role is never fenced: slots, markers and a reverse stream need it.
 * Returns how many sessions were ended.
 */
export async function putUpFence(source: pg.Client, fence: FenceRecord): Promise<number> {
  if (fence.mode === 'roles') {
    for (const role of fence.roles) {
      await source.query(switchoverSql.roleInDatabase(role.name, fence.database, 'on'));
      await source.query(switchoverSql.roleLogin(role.name, false));
    }
    return (await source.query<{ ended: number }>(switchoverSql.terminateRoles, [fence.roles.map((r) => r.name)])).rows[0]?.ended ?? 0;
  }
  if (fence.mode === 'database' && fence.ferryRole) {
    // A role's setting in the database wins over the database's: Ferry's role stays writable.
    await source.query(switchoverSql.roleInDatabase(fence.ferryRole.name, fence.database, 'off'));
    await source.query(switchoverSql.database(fence.database, 'on'));
    return (await source.query<{ ended: number }>(switchoverSql.terminateOthers, [fence.ferryRole.name])).rows[0]?.ended ?? 0;
  }
  return 0;
}

/** Takes the fence down, restoring exactly the settings it replaced; safe to repeat. */
export async function liftFence(client: pg.Client, fence: FenceRecord): Promise<void> {
  try {
    if (fence.mode === 'roles') {
      for (const role of fence.roles) {
        await client.query(switchoverSql.roleInDatabase(role.name, fence.database, role.readOnly));
        if (role.canLogin) await client.query(switchoverSql.roleLogin(role.name, true));
      }
    } else if (fence.mode === 'database' && fence.ferryRole) {
      await client.query(switchoverSql.database(fence.database, fence.databaseReadOnly ?? null));
      await client.query(switchoverSql.roleInDatabase(fence.ferryRole.name, fence.database, fence.ferryRole.readOnly));
    }
  } catch (err) {
    throw new FerryError('FERRY_SWITCHOVER_FENCE_LIFT', `could not lift the fence on database ${fence.database}: ${(err as Error).message}`,
      `run "ferry switchover --abort" again, or restore by hand: ${liftStatements(fence).join('; ')}`, { cause: err });
  }
}

/** The statements that lift `fence`, for an operator who must do it by hand. */
export function liftStatements(fence: FenceRecord): string[] {
  if (fence.mode === 'roles') {
    return fence.roles.flatMap((r) => [switchoverSql.roleInDatabase(r.name, fence.database, r.readOnly), ...(r.canLogin ? [switchoverSql.roleLogin(r.name, true)] : [])]);
  }
  if (fence.mode === 'database' && fence.ferryRole) {
    return [switchoverSql.database(fence.database, fence.databaseReadOnly ?? null), switchoverSql.roleInDatabase(fence.ferryRole.name, fence.database, fence.ferryRole.readOnly)];
  }
  return [];
}
