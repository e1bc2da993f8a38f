// Values as JSON gives them: parsed addresses, prefixes and ranges (util/net.ts) become the text
// the user wrote, so a test can compare with plain literals.
export function text<T>(value: T): unknown {
  return JSON.parse(JSON.stringify(value));
}
