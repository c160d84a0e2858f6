/**
 * Our own typing notices: "typing" on keystrokes while the input line has
 * text, "stopped" when the line is emptied, sent, or left alone for
 * `idleMs`. The session throttles the "typing" calls; this adds the stop
 * that receivers would otherwise only infer from expiry.
 */
export interface TypingIdle {
  /** Call after every keystroke with the current input line. */
  keystroke(line: string): void;
  /** The user sent the line or cleared it. */
  stop(): void;
}

export function createTypingIdle(setTyping: (typing: boolean) => void, idleMs = 4000): TypingIdle {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stop = () => {
    clearTimeout(timer);
    timer = undefined;
    setTyping(false);
  };
  return {
    keystroke(line) {
      if (line.trim() === "") {
        if (timer !== undefined) stop();
        return;
      }
      setTyping(true);
      clearTimeout(timer);
      timer = setTimeout(stop, idleMs);
    },
    stop,
  };
}
