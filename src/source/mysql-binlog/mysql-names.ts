/** A MySQL identifier quoted with backticks (a backtick in it doubled), as SQL takes any name. */
export function mysqlQuote(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}
