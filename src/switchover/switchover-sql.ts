import { quoteIdent, quoteLiteral } from '../pg/connect.js';

/**
 * Every statement `ferry switchover` runs: the fence on the source, foreign
 * keys and triggers on the target, and its own state in the target's control
 * schema (ferry.switchovers, ferry.standing_fences; see control-sql.ts).
 */
export const switchoverSql = {
  /** One switchover per target at a time; held by the command's session. */
  tryLock: `SELECT pg_try_advisory_lock(hashtext('ferry.switchover')) AS locked`,

  /** The role the command runs as on the source, and whether it may change roles and the database's settings. */
  sourceRole: `SELECT current_user AS name, current_database() AS database, r.rolsuper AS superuser, r.rolcreaterole AS createrole,
                      pg_has_role(d.datdba, 'USAGE') AS owns_database
                 FROM pg_roles r, pg_database d WHERE r.rolname = current_user AND d.datname = current_database()`,
  /** Roles $1: whether each may log in, and its own default_transaction_read_only in this database (null: none set). */
  roleSettings: `SELECT r.rolname AS name, r.rolcanlogin AS can_login,
                        (SELECT substr(c, length('default_transaction_read_only=') + 1)
                           FROM pg_db_role_setting s, unnest(s.setconfig) c
                          WHERE s.setrole = r.oid AND s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
                            AND c LIKE 'default_transaction_read_only=%') AS read_only
                   FROM pg_roles r WHERE r.rolname = ANY($1::text[])`,
  /** The database's own default_transaction_read_only (null: none set). */
  databaseSetting: `SELECT (SELECT substr(c, length('default_transaction_read_only=') + 1)
                              FROM pg_db_role_setting s, unnest(s.setconfig) c
                             WHERE s.setrole = 0 AND s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
                               AND c LIKE 'default_transaction_read_only=%') AS read_only`,
  roleInDatabase(role: string, database: string, value: string | null): string {
    const target = `ALTER ROLE ${quoteIdent(role)} IN DATABASE ${quoteIdent(database)}`;
    return value === null ? `${target} RESET default_transaction_read_only` : `${target} SET default_transaction_read_only = ${quoteLiteral(value)}`;
  },
  roleLogin(role: string, login: boolean): string {
    return `ALTER ROLE ${quoteIdent(role)} ${login ? 'LOGIN' : 'NOLOGIN'}`;
  },
  database(database: string, value: string | null): string {
    const target = `ALTER DATABASE ${quoteIdent(database)}`;
    return value === null ? `${target} RESET default_transaction_read_only` : `${target} SET default_transaction_read_only = ${quoteLiteral(value)}`;
  },
  /** Ends the sessions of roles $1 in this database (their open transactions roll back). */
  terminateRoles: `SELECT count(pg_terminate_backend(pid))::int AS ended FROM pg_stat_activity
                    WHERE datname = current_database() AND usename = ANY($1::text[]) AND pid <> pg_backend_pid() AND backend_type = 'client backend'`,
  /** Ends every session in this database but those of role $1 (Ferry's) and walsenders. */
  terminateOthers: `SELECT count(pg_terminate_backend(pid))::int AS ended FROM pg_stat_activity
                     WHERE datname = current_database() AND usename <> $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend'`,

  /**
   * Foreign keys of the source tables $1 (oids) that the target lacks are
   * created there; read under withQualifiedNames so that every name is
   * qualified. Keys a partition inherits come with its parent's.
   */
  sourceForeignKeys: `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS "table", k.conname AS name,
                             pg_get_constraintdef(k.oid) AS definition, k.convalidated AS validated,
                             k.confrelid::regclass::text AS referenced
                        FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                       WHERE k.contype = 'f' AND k.conrelid = ANY($1::oid[]) AND COALESCE((to_jsonb(k) ->> 'conparentid')::oid, 0) = 0
                       ORDER BY 1, 2`,
  /** Whether constraint $2 exists on table $1 (qualified), and whether it is validated. */
  targetConstraint: `SELECT convalidated AS validated FROM pg_constraint WHERE conrelid = to_regclass($1) AND conname = $2`,
  tableExists: `SELECT to_regclass($1) IS NOT NULL AS present`,
  addForeignKeyNotValid(table: string, name: string, definition: string): string {
    return `ALTER TABLE ${table} ADD CONSTRAINT ${quoteIdent(name)} ${definition}${/\bNOT VALID$/.test(definition) ? '' : ' NOT VALID'}`;
  },
  validateConstraint(table: string, name: string): string {
    return `ALTER TABLE ${table} VALIDATE CONSTRAINT ${quoteIdent(name)}`;
  },
  dropConstraint(table: string, name: string): string {
    return `ALTER TABLE ${table} DROP CONSTRAINT IF EXISTS ${quoteIdent(name)}`;
  },
  /** User triggers of tables $1 (qualified names) and how each fires (pg_trigger.tgenabled: O, D, R, A). */
  triggers: `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS "table", t.tgname AS name, t.tgenabled AS enabled
               FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE NOT t.tgisinternal AND (quote_ident(n.nspname) || '.' || quote_ident(c.relname)) = ANY($1::text[])`,
  setTrigger(table: string, name: string, enabled: string): string {
    const how: Record<string, string> = { O: 'ENABLE', D: 'DISABLE', R: 'ENABLE REPLICA', A: 'ENABLE ALWAYS' };
    return `ALTER TABLE ${table} ${how[enabled] ?? 'ENABLE'} TRIGGER ${quoteIdent(name)}`;
  },

  /** The replicated tables' row counters on the target, summed: they move only when a write of the source was applied. */
  rowsApplied: `SELECT COALESCE(sum(rows_applied), 0)::text AS rows FROM ferry.groups WHERE group_name = ANY($1::text[])`,
  /** Ends the target sessions that apply the groups' changes (ferry run retries and then waits for the group's lock). */
  terminateApply: `SELECT pg_terminate_backend(l.pid) FROM pg_locks l
                    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 AND l.pid <> pg_backend_pid()
                      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                      AND l.classid::int = hashtext('ferry.group') AND l.objid::int = hashtext($1)`,

  inProgress: `SELECT id::int, groups, status, fence, reverse, steps, foreign_keys, drained_at, fenced_at
                 FROM ferry.switchovers WHERE status IN ('running', 'committed') ORDER BY id DESC LIMIT 1`,
  begin: `INSERT INTO ferry.switchovers (groups, status, fence, reverse) VALUES ($1, 'running', $2::jsonb, $3) RETURNING id::int`,
  fenced: `UPDATE ferry.switchovers SET fenced_at = COALESCE(fenced_at, now()) WHERE id = $1 RETURNING fenced_at`,
  recordSteps: `UPDATE ferry.switchovers SET steps = $2::jsonb WHERE id = $1`,
  recordDrained: `UPDATE ferry.switchovers SET drained_at = $2 WHERE id = $1`,
  recordForeignKeys: `UPDATE ferry.switchovers SET foreign_keys = $2::jsonb WHERE id = $1`,
  /** The point of no return: from here on a re-run finishes the switchover rather than lifting the fence. */
  commit: `UPDATE ferry.switchovers SET status = 'committed' WHERE id = $1 AND status = 'running'`,
  finish: `UPDATE ferry.switchovers SET status = $2, reason = $3, finished_at = now() WHERE id = $1`,

  standingFences: `SELECT id::int, fence FROM ferry.standing_fences ORDER BY id`,
  addStandingFence: `INSERT INTO ferry.standing_fences (fence) VALUES ($1::jsonb)`,
  removeStandingFence: `DELETE FROM ferry.standing_fences WHERE id = $1`,
  clearStandingFences: `DELETE FROM ferry.standing_fences`,
} as const;
