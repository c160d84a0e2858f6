/**
 * The message box: Enter sends, Shift+Enter (or Enter while an IME is
 * composing) inserts a newline. The box is cleared as soon as a message is
 * handed over, so pressing Enter twice cannot send it twice; the session
 * queues and retries it with its own client_id.
 */
export interface ComposerElements {
  form: HTMLFormElement;
  text: HTMLTextAreaElement;
}

export interface ComposerHandlers {
  send(text: string): void;
  typing(typing: boolean): void;
}

/** Typing stops being announced after this long without a keystroke. */
const idleMs = 4000;

export function attachComposer(elements: ComposerElements, handlers: ComposerHandlers): () => void {
  const { form, text } = elements;
  let idle: ReturnType<typeof setTimeout> | undefined;

  function autosize(): void {
    text.style.height = "auto";
    text.style.height = `${Math.min(text.scrollHeight, 160)}px`;
  }

  function submit(): void {
    const value = text.value;
    if (!/\S/.test(value)) return;
    text.value = "";
    autosize();
    clearTimeout(idle);
    handlers.send(value);
  }

  const onKeyDown = (event: KeyboardEvent) => {
    if (event.key !== "Enter" || event.shiftKey || event.isComposing) return;
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    event.preventDefault();
    submit();
  };
  const onSubmit = (event: SubmitEvent) => {
    event.preventDefault();
    submit();
    text.focus();
  };
  const onInput = () => {
    autosize();
    const typing = /\S/.test(text.value);
    handlers.typing(typing);
    clearTimeout(idle);
    if (typing) idle = setTimeout(() => handlers.typing(false), idleMs);
  };

  text.addEventListener("keydown", onKeyDown);
  text.addEventListener("input", onInput);
  form.addEventListener("submit", onSubmit);
  return () => {
    clearTimeout(idle);
    text.removeEventListener("keydown", onKeyDown);
    text.removeEventListener("input", onInput);
    form.removeEventListener("submit", onSubmit);
  };
}
