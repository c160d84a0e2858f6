import { clearScreenDown, cursorTo, type Interface, moveCursor } from "node:readline";
import { stripVTControlCharacters } from "node:util";

/**
 * The bottom of the terminal as a chat needs it: everything printed goes
 * above an optional status line, which sits above the prompt with whatever
 * the user has typed so far. Printing never clobbers the partial input:
 * the status line and prompt rows are erased, the new line is written where
 * they were, and readline redraws the prompt, the input and the cursor.
 */
export interface Screen {
  /** Prints one line (already neutralised and coloured) above status and prompt. */
  print(line: string): void;
  /** Shows `text` on its own line above the prompt; "" hides the line. */
  setStatus(text: string): void;
  /** After Enter: removes the echoed input, which comes back as a message. */
  eraseSubmitted(line: string): void;
  /** Before exit: removes the status line and prompt. */
  close(): void;
}

export function createScreen(rl: Interface, output: NodeJS.WriteStream): Screen {
  let status = "";
  /** Whether a status line is on screen now, above the prompt. */
  let statusShown = false;
  /** No prompt to redraw any more: the screen or readline was closed. */
  let closed = false;
  /** Whether the prompt (and the input) is on screen below the status line. */
  let promptShown = true;
  rl.once("close", () => {
    closed = true;
  });

  const columns = () => output.columns || 80;

  /** Moves up `rows`, erases to the end of the screen, writes `above`, redraws. */
  function redraw(rows: number, above: string): void {
    moveCursor(output, 0, -rows);
    cursorTo(output, 0);
    clearScreenDown(output);
    output.write(above);
    statusShown = !closed && status !== "";
    promptShown = !closed;
    if (closed) return;
    if (statusShown) output.write(`${fit(status, columns() - 1)}\n`);
    rl.prompt(true);
  }

  /** Rows from the top of the status line (or prompt) down to the cursor. */
  function rowsAboveCursor(): number {
    return (promptShown ? rl.getCursorPos().rows : 0) + (statusShown ? 1 : 0);
  }

  return {
    print(line) {
      redraw(rowsAboveCursor(), `${line}\n`);
    },
    setStatus(text) {
      if (text === status || closed) return;
      const rows = rowsAboveCursor();
      status = text;
      redraw(rows, "");
    },
    eraseSubmitted(line) {
      // readline has already moved to a fresh row below the submitted input.
      const width = stripVTControlCharacters(rl.getPrompt()).length + [...line].length;
      const inputRows = Math.max(1, Math.ceil(width / columns()));
      redraw(inputRows + (statusShown ? 1 : 0), "");
    },
    close() {
      const rows = rowsAboveCursor();
      closed = true;
      redraw(rows, "");
    },
  };
}

/** Cuts a status line to the terminal width: a wrapped one would break the row counting. */
function fit(text: string, width: number): string {
  const chars = [...stripVTControlCharacters(text)];
  return chars.length <= width ? text : `${chars.slice(0, Math.max(0, width - 1)).join("")}…`;
}
