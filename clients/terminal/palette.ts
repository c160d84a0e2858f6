/**
 * ANSI styling for the interactive view, or none at all when colours are off
 * (NO_COLOR, or a terminal without colours). Only our own fixed sequences are
 * emitted; untrusted text is neutralised before it is wrapped.
 */
export interface Palette {
  dim(text: string): string;
  bold(text: string): string;
  /** A stable colour per name, so each speaker is easy to follow. */
  name(text: string): string;
  error(text: string): string;
}

const nameColours = [31, 32, 33, 34, 35, 36];

export function createPalette(enabled: boolean): Palette {
  const sgr = (code: string) => (text: string) => (enabled ? `\x1b[${code}m${text}\x1b[0m` : text);
  return {
    dim: sgr("2"),
    bold: sgr("1"),
    error: sgr("31"),
    name(text) {
      let hash = 0;
      for (const c of text) hash = (hash * 31 + (c.codePointAt(0) ?? 0)) >>> 0;
      return sgr(`1;${nameColours[hash % nameColours.length]}`)(text);
    },
  };
}
