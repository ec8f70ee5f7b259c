import type { Connection } from 'mysql2/promise';
import type { Flavor } from './binlog-connection.js';
import { GrantSet } from './mysql-grants.js';
import { readMySqlTable } from './mysql-catalog.js';
import { mysqlQuote } from './mysql-names.js';

/**
 * What `capture: binlog` needs from a MySQL 8.0/8.4 or MariaDB 10.6+
 * source, checked up front so that `ferry init` reports every missing piece
 * at once, each with its fix. A problem stops `init`; a warning is printed
 * and `init` goes on. Nothing here changes the source.
 */
export interface MySqlPrerequisite {
  /** Stable and searchable: `FERRY_MYSQL_BINLOG_FORMAT`. */
  readonly code: string;
  readonly what: string;
  readonly fix: string;
}

export interface MySqlPrerequisites {
  readonly flavor: Flavor;
  /** `SELECT VERSION()`. */
  readonly version: string;
  readonly problems: readonly MySqlPrerequisite[];
  readonly warnings: readonly MySqlPrerequisite[];
}

export interface MySqlTableName {
  readonly database: string;
  readonly name: string;
}

/** One line for a person: code, what, and how to fix it. */
export function describePrerequisite(p: MySqlPrerequisite): string {
  return `${p.code}: ${p.what} — fix: ${p.fix}`;
}

/** Below this a binlog may be purged while ferry is stopped for a weekend's incident. */
export const MIN_RETENTION_SECONDS = 24 * 3600;

const VARIABLES = [
  'log_bin', 'binlog_format', 'binlog_row_image', 'binlog_row_metadata', 'binlog_checksum', 'gtid_mode',
  'enforce_gtid_consistency', 'gtid_strict_mode', 'binlog_expire_logs_seconds', 'expire_logs_days',
  'binlog_row_value_options', 'basedir',
];

const VARIABLES_SQL = `SHOW GLOBAL VARIABLES WHERE Variable_name IN (${VARIABLES.map((v) => `'${v}'`).join(', ')})`;

const TABLES_SQL = `SELECT TABLE_SCHEMA AS \`database\`, TABLE_NAME AS name, TABLE_TYPE AS type, ENGINE AS engine
  FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`;

/**
 * Engines whose `START TRANSACTION WITH CONSISTENT SNAPSHOT` covers their
 * rows. Aria (even `TRANSACTIONAL=1`, which means crash-safe) and MyISAM
 * have no multi-version reads: a copy of them sees rows written after the
 * snapshot's position, so its rows and the stream's may overlap.
 */
const SNAPSHOT_ENGINES = new Set(['innodb', 'rocksdb']);

export async function checkBinlogSource(connection: Connection, tables: readonly MySqlTableName[]): Promise<MySqlPrerequisites> {
  const [versionRows] = await connection.query('SELECT VERSION() AS version, CURRENT_USER() AS user');
  const { version, user } = (versionRows as { version: string; user: string }[])[0] ?? { version: '', user: '' };
  const flavor: Flavor = /mariadb/i.test(version) ? 'mariadb' : 'mysql';
  const problems: MySqlPrerequisite[] = [];
  const warnings: MySqlPrerequisite[] = [];
  const done = (): MySqlPrerequisites => ({ flavor, version, problems, warnings });

  const versionProblem = checkVersion(flavor, version);
  if (versionProblem) {
    problems.push(versionProblem);
    return done();
  }

  const [variableRows] = await connection.query(VARIABLES_SQL);
  const v = new Map((variableRows as { Variable_name: string; Value: string }[]).map((r) => [r.Variable_name.toLowerCase(), String(r.Value)]));
  const setting = (name: string): string => (v.get(name) ?? '').toUpperCase();
  const rds = /^\/rdsdbbin\//.test(v.get('basedir') ?? '');
  const change = (name: string, value: string): string => flavor === 'mysql'
    ? `SET PERSIST ${name} = ${value}; (on a managed service such as RDS, Aurora or Cloud SQL: set ${name} = ${value} in the instance's parameter group or flags)`
    : `SET GLOBAL ${name} = ${value}; and put ${name} = ${value} in the server's configuration file (on a managed service such as RDS: the parameter group)`;

  if (setting('log_bin') !== 'ON') {
    problems.push({
      code: 'FERRY_MYSQL_LOG_BIN',
      what: 'the source does not write a binary log (log_bin = OFF)',
      fix: flavor === 'mysql'
        ? 'start the server without --skip-log-bin / --disable-log-bin (MySQL 8 logs by default), with a unique server_id; on RDS set the backup retention period above 0'
        : 'add log_bin = mariadb-bin and a unique server_id to the [mariadbd] section of the configuration and restart the server; on RDS set the backup retention period above 0',
    });
  }
  if (setting('binlog_format') !== 'ROW') {
    problems.push({
      code: 'FERRY_MYSQL_BINLOG_FORMAT',
      what: `the source has binlog_format = ${setting('binlog_format') || 'unknown'}: only row-based events carry the rows a change wrote`,
      fix: `${change('binlog_format', "'ROW'")}; sessions already open keep their format until they reconnect`,
    });
  }
  if (setting('binlog_row_image') !== 'FULL') {
    problems.push({
      code: 'FERRY_MYSQL_BINLOG_ROW_IMAGE',
      what: `the source has binlog_row_image = ${setting('binlog_row_image') || 'unknown'}: updates would lack the columns they did not change`,
      fix: change('binlog_row_image', "'FULL'"),
    });
  }
  if (setting('binlog_row_metadata') !== 'FULL') {
    problems.push({
      code: 'FERRY_MYSQL_BINLOG_ROW_METADATA',
      what: `the source has binlog_row_metadata = ${setting('binlog_row_metadata') || 'unknown'}: without full metadata ENUM and SET arrive as numbers and text without its charset`,
      fix: change('binlog_row_metadata', "'FULL'"),
    });
  }
  const checksum = setting('binlog_checksum');
  if (checksum !== 'CRC32' && checksum !== 'NONE') {
    problems.push({
      code: 'FERRY_MYSQL_BINLOG_CHECKSUM',
      what: `the source has binlog_checksum = ${checksum || 'unknown'}, which the binlog reader cannot verify`,
      fix: change('binlog_checksum', "'CRC32'"),
    });
  }
  if (flavor === 'mysql') {
    if (setting('gtid_mode') !== 'ON') {
      problems.push({
        code: 'FERRY_MYSQL_GTID_MODE',
        what: `the source has gtid_mode = ${setting('gtid_mode') || 'unknown'}: ferry resumes the stream by GTID, which survives binlog rotation and failover`,
        fix: 'raise gtid_mode one step at a time (OFF_PERMISSIVE, ON_PERMISSIVE, ON) with SET PERSIST gtid_mode = …; after enforce_gtid_consistency = ON (on RDS: gtid-mode = ON in the parameter group)',
      });
    }
    if (setting('enforce_gtid_consistency') !== 'ON') {
      problems.push({
        code: 'FERRY_MYSQL_GTID_CONSISTENCY',
        what: `the source has enforce_gtid_consistency = ${setting('enforce_gtid_consistency') || 'unknown'}, which gtid_mode = ON requires`,
        fix: "SET PERSIST enforce_gtid_consistency = WARN; check the error log for statements that would fail, then SET PERSIST enforce_gtid_consistency = ON; (on RDS: enforce_gtid_consistency = ON in the parameter group)",
      });
    }
    if (setting('binlog_row_value_options').includes('PARTIAL_JSON')) {
      problems.push({
        code: 'FERRY_MYSQL_BINLOG_ROW_VALUE_OPTIONS',
        what: 'the source has binlog_row_value_options = PARTIAL_JSON: updates of JSON columns would carry a diff instead of the value',
        fix: change('binlog_row_value_options', "''"),
      });
    }
  } else if (setting('gtid_strict_mode') !== 'ON' && setting('gtid_strict_mode') !== '1') {
    warnings.push({
      code: 'FERRY_MYSQL_GTID_STRICT_MODE',
      what: 'the source has gtid_strict_mode = OFF: a replication domain may then hold GTIDs out of order, and resuming by GTID can miss or repeat transactions after a failover',
      fix: change('gtid_strict_mode', 'ON'),
    });
  }
  const retention = retentionWarning(flavor, v, rds);
  if (retention) warnings.push(retention);

  const grants = await readGrants(connection, flavor);
  problems.push(...privilegeProblems(flavor, grants, quoteAccount(user), tables));
  for (const table of tables) {
    const found = await tableProblems(connection, table);
    problems.push(...found.problems);
    warnings.push(...found.warnings);
  }
  return done();
}

function checkVersion(flavor: Flavor, version: string): MySqlPrerequisite | undefined {
  const [major = 0, minor = 0] = version.split(/[.-]/).map(Number);
  if (flavor === 'mariadb' && (major > 10 || (major === 10 && minor >= 6))) return undefined;
  if (flavor === 'mysql' && major >= 8) return undefined;
  return {
    code: 'FERRY_MYSQL_VERSION',
    what: `the source runs ${flavor === 'mariadb' ? 'MariaDB' : 'MySQL'} ${version}; capture: binlog needs MySQL 8.0 or later, or MariaDB 10.6 or later`,
    fix: 'upgrade the source server',
  };
}

/** Seconds the source keeps binlogs, from its variables (lower-case names); 0: until purged by hand. See retentionWarning. */
export function binlogRetentionSeconds(v: ReadonlyMap<string, string>): number {
  const seconds = Number(v.get('binlog_expire_logs_seconds') ?? 0);
  const days = Number(v.get('expire_logs_days') ?? 0);
  return seconds > 0 ? seconds : days > 0 ? days * 86400 : 0;
}

/**
 * How long binlogs stay: MySQL's `binlog_expire_logs_seconds` (0 with
 * `expire_logs_days` 0 is forever); MariaDB's `binlog_expire_logs_seconds`
 * and `expire_logs_days` are one setting in two units. RDS and Aurora purge
 * by their own `binlog retention hours` (by default: as soon as they can),
 * which no variable shows.
 */
function retentionWarning(flavor: Flavor, v: ReadonlyMap<string, string>, rds: boolean): MySqlPrerequisite | undefined {
  const seconds = Number(v.get('binlog_expire_logs_seconds') ?? 0);
  const effective = binlogRetentionSeconds(v);
  const rdsFix = "on Amazon RDS or Aurora binlogs are kept by the 'binlog retention hours' setting instead: CALL mysql.rds_set_configuration('binlog retention hours', 24);";
  if (rds) {
    return { code: 'FERRY_MYSQL_BINLOG_RETENTION', what: 'the source is Amazon RDS, which purges binlogs after \'binlog retention hours\' (none by default): a ferry stopped longer than that must copy its tables again', fix: rdsFix };
  }
  if (effective === 0 || effective >= MIN_RETENTION_SECONDS) return undefined;
  const setting = flavor === 'mysql' || seconds > 0 ? 'binlog_expire_logs_seconds' : 'expire_logs_days';
  return {
    code: 'FERRY_MYSQL_BINLOG_RETENTION',
    what: `the source keeps binlogs for ${Math.round(effective / 360) / 10} hours: a ferry stopped longer than that must copy its tables again`,
    fix: `${setting === 'expire_logs_days' ? 'SET GLOBAL expire_logs_days = 1;' : `SET ${flavor === 'mysql' ? 'PERSIST' : 'GLOBAL'} binlog_expire_logs_seconds = ${MIN_RETENTION_SECONDS};`} or more (the configuration file or parameter group too); ${rdsFix}`,
  };
}

/** `SHOW GRANTS` for the session's user; on MySQL with the roles active in the session, which SHOW GRANTS alone leaves out. */
async function readGrants(connection: Connection, flavor: Flavor): Promise<GrantSet> {
  let sql = 'SHOW GRANTS';
  if (flavor === 'mysql') {
    const [roleRows] = await connection.query('SELECT CURRENT_ROLE() AS roles');
    const roles = (roleRows as { roles: string | null }[])[0]?.roles ?? 'NONE';
    if (roles && roles !== 'NONE') sql = `SHOW GRANTS FOR CURRENT_USER() USING ${roles}`;
  }
  const [rows] = await connection.query(sql);
  return GrantSet.parse((rows as Record<string, string>[]).map((r) => String(Object.values(r)[0])));
}

/**
 * The privileges: REPLICATION SLAVE for the binlog dump; reading the
 * binlog's end (SHOW BINARY LOG STATUS, SHOW BINARY LOGS): MySQL's
 * REPLICATION CLIENT, which MariaDB 10.5 renamed BINLOG MONITOR; SELECT on
 * every table for the copy; and on MySQL the short lock that lines the
 * copy's snapshot up with a binlog position (consistent-snapshot.ts): RELOAD
 * for FLUSH TABLES WITH READ LOCK, or LOCK TABLES on the tables' databases.
 * MariaDB's snapshot needs no lock.
 */
function privilegeProblems(flavor: Flavor, grants: GrantSet, account: string, tables: readonly MySqlTableName[]): MySqlPrerequisite[] {
  const problems: MySqlPrerequisite[] = [];
  if (!grants.hasGlobal('REPLICATION SLAVE')) {
    problems.push({
      code: 'FERRY_MYSQL_PRIVILEGE_REPLICATION_SLAVE',
      what: `source user ${account} may not read the binlog (REPLICATION SLAVE)`,
      fix: `GRANT REPLICATION SLAVE ON *.* TO ${account};`,
    });
  }
  const monitor = flavor === 'mysql' ? 'REPLICATION CLIENT' : 'BINLOG MONITOR';
  // SUPER includes it on MySQL; on MariaDB since 10.5.2 it does not.
  if (!grants.hasGlobal(monitor) && !(flavor === 'mysql' && grants.hasGlobal('SUPER'))) {
    problems.push({
      code: 'FERRY_MYSQL_PRIVILEGE_BINLOG_STATUS',
      what: `source user ${account} may not read the binlog's position and files (${monitor})`,
      fix: `GRANT ${monitor} ON *.* TO ${account};`,
    });
  }
  const unreadable = tables.filter((t) => !grants.hasOnTable('SELECT', t.database, t.name));
  for (const database of new Set(unreadable.map((t) => t.database))) {
    const names = unreadable.filter((t) => t.database === database).map((t) => `${database}.${t.name}`);
    problems.push({
      code: 'FERRY_MYSQL_PRIVILEGE_SELECT',
      what: `source user ${account} may not read ${names.join(', ')} (SELECT)`,
      fix: `GRANT SELECT ON ${mysqlQuote(database)}.* TO ${account}; (or GRANT SELECT on each table)`,
    });
  }
  if (flavor === 'mysql' && !grants.hasGlobal('RELOAD')) {
    const unlockable = tables.filter((t) => !grants.hasOnTable('LOCK TABLES', t.database, t.name));
    if (unlockable.length > 0) {
      problems.push({
        code: 'FERRY_MYSQL_PRIVILEGE_SNAPSHOT_LOCK',
        what: `source user ${account} can neither FLUSH TABLES WITH READ LOCK (RELOAD) nor LOCK TABLES on ${unlockable.map((t) => `${t.database}.${t.name}`).join(', ')}: the copy's snapshot cannot be lined up with a binlog position`,
        fix: `${[...new Set(unlockable.map((t) => t.database))].map((d) => `GRANT LOCK TABLES ON ${mysqlQuote(d)}.* TO ${account};`).join(' ')} (or GRANT RELOAD ON *.* TO ${account};)`,
      });
    }
  }
  return problems;
}

/** Foreign keys of a table (the child side) whose actions change its rows from inside InnoDB. */
const CASCADES_SQL = `SELECT CONSTRAINT_NAME AS name, CONCAT(UNIQUE_CONSTRAINT_SCHEMA, '.', REFERENCED_TABLE_NAME) AS parent,
    DELETE_RULE AS onDelete, UPDATE_RULE AS onUpdate
  FROM information_schema.REFERENTIAL_CONSTRAINTS
  WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?
    AND (DELETE_RULE NOT IN ('RESTRICT', 'NO ACTION') OR UPDATE_RULE NOT IN ('RESTRICT', 'NO ACTION'))
  ORDER BY CONSTRAINT_NAME`;

/** An action other than RESTRICT or NO ACTION: InnoDB changes the child's rows itself (CASCADE, SET NULL, SET DEFAULT). */
function changesRows(rule: string): boolean {
  return rule !== 'RESTRICT' && rule !== 'NO ACTION';
}

/** A table: it exists, is a table, has a key that identifies rows, an engine a snapshot covers, and columns the decoder reads. */
async function tableProblems(connection: Connection, t: MySqlTableName): Promise<{ problems: MySqlPrerequisite[]; warnings: MySqlPrerequisite[] }> {
  const problems: MySqlPrerequisite[] = [];
  const warnings: MySqlPrerequisite[] = [];
  const label = `${t.database}.${t.name}`;
  const quoted = `${mysqlQuote(t.database)}.${mysqlQuote(t.name)}`;
  const [rows] = await connection.query(TABLES_SQL, [t.database, t.name]);
  const row = (rows as { type: string; engine: string | null }[])[0];
  if (!row) {
    problems.push({ code: 'FERRY_MYSQL_TABLE_MISSING', what: `table ${label} does not exist on the source, or the source user cannot see it`, fix: `create it, correct its name in the group, or GRANT SELECT ON ${quoted} to the source user` });
    return { problems, warnings };
  }
  if (row.type !== 'BASE TABLE') {
    problems.push({ code: 'FERRY_MYSQL_TABLE_NOT_TABLE', what: `${label} is a ${row.type.toLowerCase()}, which the binlog does not log rows for`, fix: 'list the tables it reads instead' });
    return { problems, warnings };
  }
  const table = await readMySqlTable(connection, t.database, t.name);
  if (table.primaryKey.length === 0 && table.uniqueKeys.length === 0) {
    problems.push({
      code: 'FERRY_MYSQL_TABLE_NO_KEY',
      what: `table ${label} has no primary key and no unique key on NOT NULL columns: its updates and deletes cannot name the row they change`,
      fix: `ALTER TABLE ${quoted} ADD PRIMARY KEY (…); (or a UNIQUE key over NOT NULL columns)`,
    });
  }
  const [cascades] = await connection.query(CASCADES_SQL, [t.database, t.name]);
  for (const fk of cascades as { name: string; parent: string; onDelete: string; onUpdate: string }[]) {
    const actions = [changesRows(fk.onDelete) ? `ON DELETE ${fk.onDelete}` : '', changesRows(fk.onUpdate) ? `ON UPDATE ${fk.onUpdate}` : '']
      .filter((a) => a !== '').join(' ');
    problems.push({
      code: 'FERRY_MYSQL_FOREIGN_KEY_ACTION',
      what: `table ${label} has foreign key ${fk.name} to ${fk.parent} with ${actions}: the rows InnoDB changes for it are not written to the binlog, so the target would keep them`,
      fix: `make the foreign key ON DELETE RESTRICT ON UPDATE RESTRICT (the application then changes ${label}'s rows itself, and the binlog has them), or leave ${label} out of the group`,
    });
  }
  const engine = (row.engine ?? '').toLowerCase();
  if (!SNAPSHOT_ENGINES.has(engine)) {
    warnings.push({
      code: 'FERRY_MYSQL_TABLE_ENGINE',
      what: `table ${label} uses the ${row.engine ?? 'unknown'} engine, which has no consistent snapshot: rows written during its copy may be copied and streamed both, or half-written`,
      fix: `ALTER TABLE ${quoted} ENGINE = InnoDB; or keep writes to it stopped while it is copied`,
    });
  }
  for (const column of table.columns) {
    if (/\bCOMPRESSED\b/i.test(column.columnType)) {
      problems.push({
        code: 'FERRY_MYSQL_COLUMN_COMPRESSED',
        what: `column ${column.name} of ${label} is a MariaDB COMPRESSED column, whose binlog values the decoder does not read`,
        fix: `ALTER TABLE ${quoted} MODIFY ${mysqlQuote(column.name)} ${column.columnType.replace(/\s*\/\*M?!?\d*\s*COMPRESSED\s*\*\//i, '')} …; (the column's definition without COMPRESSED)`,
      });
    }
    if (/\/\*\s*mariadb-5\.3\s*\*\//i.test(column.columnType) && (column.fsp ?? 0) > 0) {
      problems.push({
        code: 'FERRY_MYSQL_COLUMN_OLD_TEMPORAL',
        what: `column ${column.name} of ${label} is a ${column.dataType}(${column.fsp}) in MariaDB 5.3's storage format, whose binlog values the decoder does not read`,
        fix: `ALTER TABLE ${quoted} FORCE; with mysql56_temporal_format = ON (the default) rewrites it in the current format`,
      });
    }
  }
  return { problems, warnings };
}

/** `user@host` as CURRENT_USER() gives it, as GRANT takes it: 'user'@'host'. */
function quoteAccount(account: string): string {
  const at = account.lastIndexOf('@');
  const user = at < 0 ? account : account.slice(0, at);
  const host = at < 0 ? '%' : account.slice(at + 1);
  return `'${user.replace(/'/g, "''")}'@'${host.replace(/'/g, "''")}'`;
}
