/**
 * Column type codes as TABLE_MAP events write them (`enum_field_types` in
 * MySQL's field_types.h). ENUM and SET columns are written as STRING with
 * their real type in the column's metadata.
 */
export const ColumnType = {
  DECIMAL: 0,
  TINY: 1,
  SHORT: 2,
  LONG: 3,
  FLOAT: 4,
  DOUBLE: 5,
  NULL: 6,
  TIMESTAMP: 7,
  LONGLONG: 8,
  INT24: 9,
  DATE: 10,
  TIME: 11,
  DATETIME: 12,
  YEAR: 13,
  NEWDATE: 14,
  VARCHAR: 15,
  BIT: 16,
  TIMESTAMP2: 17,
  DATETIME2: 18,
  TIME2: 19,
  TYPED_ARRAY: 20,
  JSON: 245,
  NEWDECIMAL: 246,
  ENUM: 247,
  SET: 248,
  TINY_BLOB: 249,
  MEDIUM_BLOB: 250,
  LONG_BLOB: 251,
  BLOB: 252,
  VAR_STRING: 253,
  STRING: 254,
  GEOMETRY: 255,
} as const;

const NAMES = new Map<number, string>(Object.entries(ColumnType).map(([name, code]) => [code, name.toLowerCase()]));

export function columnTypeName(type: number): string {
  return NAMES.get(type) ?? `type ${type}`;
}

/** Numeric columns: the ones the SIGNEDNESS metadata has a bit for. */
export function isNumeric(type: number): boolean {
  return type === ColumnType.TINY || type === ColumnType.SHORT || type === ColumnType.INT24 || type === ColumnType.LONG
    || type === ColumnType.LONGLONG || type === ColumnType.NEWDECIMAL || type === ColumnType.FLOAT || type === ColumnType.DOUBLE;
}

/** Character columns (by real type): the ones the charset metadata lists. BLOBs count, as the server counts them. */
export function isCharacter(realType: number): boolean {
  return realType === ColumnType.STRING || realType === ColumnType.VAR_STRING || realType === ColumnType.VARCHAR
    || realType === ColumnType.BLOB;
}

export function isEnumOrSet(realType: number): boolean {
  return realType === ColumnType.ENUM || realType === ColumnType.SET;
}
