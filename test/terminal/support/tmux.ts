import { execFile } from "node:child_process";
import { rmSync } from "node:fs";
import { promisify } from "node:util";
import { chatCommand, chatEnv, root } from "./chat-cli.ts";

const run = promisify(execFile);

/**
 * One private tmux server (its own socket, so tests never touch a user's
 * tmux) holding terminal clients in fixed-size panes: a real pseudo terminal,
 * driven by keystrokes and read back as the screen shows it.
 */
export interface Tmux {
  /** Starts the terminal client with `args` in a new session named `name`. */
  open(name: string, args: readonly string[]): Promise<Pane>;
  /** Kills the tmux server and every client in it. */
  kill(): Promise<void>;
}

export interface Pane {
  /** Types `text` literally (no key names). */
  type(text: string): Promise<void>;
  /** Presses keys by tmux name: "Enter", "C-c", "C-d". */
  press(...keys: string[]): Promise<void>;
  /** The visible screen, trailing blank lines removed. */
  screen(): Promise<string>;
  /** Resolves with the screen once `predicate` holds for it. */
  waitFor(predicate: RegExp | ((screen: string) => boolean), ms?: number): Promise<string>;
  /** Cursor position, 0-based. */
  cursor(): Promise<{ x: number; y: number }>;
}

let sockets = 0;

const quote = (arg: string) => `'${arg.replaceAll("'", `'\\''`)}'`;

/** Colours on, as a user has them: the redraw logic must cope with styled lines. */
const { NO_COLOR: _, ...tmuxEnv } = chatEnv;

export function createTmux(): Tmux {
  const socket = `chat-terminal-test-${process.pid}-${++sockets}`;
  const tmux = (...args: string[]) =>
    run("tmux", ["-L", socket, "-f", "/dev/null", ...args], { cwd: root, env: tmuxEnv });

  return {
    async open(name, args) {
      // The exit status stays on screen, and the pane stays open, after the client ends.
      const command = `${chatCommand("node", args).map(quote).join(" ")}; echo "[exit $?]"; sleep 600`;
      await tmux("new-session", "-d", "-s", name, "-x", "100", "-y", "30", "-c", root, command);
      const target = `${name}:0.0`;
      const pane: Pane = {
        async type(text) {
          await tmux("send-keys", "-t", target, "-l", text);
        },
        async press(...keys) {
          await tmux("send-keys", "-t", target, ...keys);
        },
        async screen() {
          const { stdout } = await tmux("capture-pane", "-p", "-t", target);
          return stdout.replace(/\s+$/, "");
        },
        async waitFor(predicate, ms = 15_000) {
          const test =
            typeof predicate === "function" ? predicate : (s: string) => predicate.test(s);
          const deadline = Date.now() + ms;
          for (;;) {
            const screen = await pane.screen();
            if (test(screen)) return screen;
            if (Date.now() > deadline) {
              throw new Error(`timed out waiting for ${predicate} on screen:\n${screen}`);
            }
            await new Promise((r) => setTimeout(r, 50));
          }
        },
        async cursor() {
          const { stdout } = await tmux(
            "display-message",
            "-p",
            "-t",
            target,
            "#{cursor_x} #{cursor_y}",
          );
          const [x, y] = stdout.trim().split(" ").map(Number);
          return { x: x ?? -1, y: y ?? -1 };
        },
      };
      return pane;
    },
    async kill() {
      // tmux leaves its socket file behind; remove it too.
      const path = await tmux("display-message", "-p", "#{socket_path}").then(
        ({ stdout }) => stdout.trim(),
        () => "",
      );
      await tmux("kill-server").catch(() => {
        // Already gone: nothing was started, or every session ended.
      });
      if (path !== "") rmSync(path, { force: true });
    },
  };
}
