// Tables of numeric codes written as `{ Name: 0, Other: 1, ... } as const`: the code is what the
// hot paths compare and count by, the name what people read. The names by code are derived here,
// so that adding a code never means editing a second list.

/**
 * The names of a table of codes, indexed by code. The codes must be 0, 1, 2... with no gap and no
 * repeat (the counters of such a table are an array of that length): throws otherwise, at load.
 */
export function namesByCode(table: Readonly<Record<string, number>>): readonly string[] {
  const names: string[] = [];
  for (const [name, code] of Object.entries(table)) {
    if (!Number.isInteger(code) || code < 0 || names[code] !== undefined)
      throw new Error(`code table: ${name} = ${code} is not a new index`);
    names[code] = name;
  }
  for (let i = 0; i < names.length; i++)
    if (names[i] === undefined) throw new Error(`code table: no name for code ${i}`);
  return names;
}
