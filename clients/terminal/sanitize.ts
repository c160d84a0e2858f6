/**
 * Characters a chat message must not be able to send to a terminal: C0
 * controls (ESC starts every ANSI sequence; CR and LF could fake lines), DEL,
 * C1 controls (U+009B is an 8-bit CSI on some terminals), the Unicode line
 * and paragraph separators, and bidirectional overrides and isolates (which
 * reorder what is displayed, "Trojan Source").
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const unsafe = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const named: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/**
 * Makes untrusted text safe to print: every unsafe character becomes a visible
 * escape (`\x1b`, `\n`, `\u202e`), so a message is always shown as the text
 * it is and can neither move the cursor, recolour, retitle nor clear the
 * screen. A literal backslash stays as it is.
 */
export function neutralise(text: string): string {
  return text.replace(unsafe, (c) => named[c] ?? hexEscape(c));
}

function hexEscape(c: string): string {
  const code = c.charCodeAt(0);
  return code <= 0xff
    ? `\\x${code.toString(16).padStart(2, "0")}`
    : `\\u${code.toString(16).padStart(4, "0")}`;
}

/**
 * JSON.stringify escapes C0 controls but passes C1 controls, U+2028/2029 and
 * bidi overrides through raw; this writes those as `\uXXXX` too. The result
 * is the same JSON value, and safe to print on a terminal.
 */
export function terminalSafeJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}
