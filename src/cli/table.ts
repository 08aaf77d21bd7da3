/** Prints rows as an aligned plain-text table for people; `--json` is for programs. */
export function printTable<T extends object>(rows: T[], columns: (keyof T & string)[], out: NodeJS.WritableStream = process.stdout): void {
  const cell = (value: unknown): string => (value === null || value === undefined ? '-' : String(value));
  const widths = columns.map((column) => Math.max(column.length, ...rows.map((row) => cell(row[column]).length)));
  const line = (values: string[]) =>
    `${values
      .map((v, i) => v.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd()}\n`;
  out.write(line(columns));
  for (const row of rows) out.write(line(columns.map((column) => cell(row[column]))));
}
