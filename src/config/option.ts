import type { Kind } from "./kinds.ts";

/**
 * Who takes a setting: `buildApp` ("app"), or only the entry point around it ("process":
 * where to listen, which store to open, which key files to read). `BuildOptions` is the
 * app's part of the configuration, so the entry point passes it on without copying fields.
 */
export type Scope = "app" | "process";

/** One setting: its flag, environment variable, reader, default and help, in one place. */
export interface Option<T, S extends Scope = Scope> {
  /** The command-line flag without its dashes. */
  readonly flag: string;
  /** The environment variable read when the flag is not given. */
  readonly env: string;
  /** One line for `--help` and docs/configuration.md. */
  readonly help: string;
  readonly default: T;
  /** The default as a user would write it (`15s`, `1000/10s`); undefined when there is none. */
  readonly shownDefault: string | undefined;
  readonly scope: S;
  /** Reads a flag's or environment variable's value; throws an Error that names the option. */
  parse(raw: string): T;
}

export interface OptionSpec<T> {
  flag: string;
  env: string;
  help: string;
  default?: T;
}

/** Declares an app setting of `kind`; without a default, its value may be undefined. */
export function option<T>(
  kind: Kind<T>,
  spec: OptionSpec<NoInfer<T>> & { default: NoInfer<T> },
): Option<T, "app">;
export function option<T>(
  kind: Kind<T>,
  spec: OptionSpec<NoInfer<T>>,
): Option<T | undefined, "app">;
export function option<T>(kind: Kind<T>, spec: OptionSpec<T>): Option<T | undefined, "app"> {
  const name = `--${spec.flag} (${spec.env})`;
  return {
    flag: spec.flag,
    env: spec.env,
    help: spec.help,
    default: spec.default,
    shownDefault: spec.default === undefined ? undefined : kind.show(spec.default),
    scope: "app",
    parse: (raw) => kind.parse(raw, name),
  };
}

/** Marks a setting as the entry point's alone (see {@link Scope}). */
export function forProcess<T>(option: Option<T, "app">): Option<T, "process"> {
  return { ...option, scope: "process" };
}

/** Settings declared as options, grouped as the components that take them group them. */
export interface OptionTree {
  readonly [key: string]: Option<unknown> | OptionTree;
}

/** The values that the options of `T` produce, shaped as `T`. */
export type SettingsOf<T> = {
  -readonly [K in keyof T]: ValueOf<T[K]>;
};

/** {@link SettingsOf} without the entry point's settings: what `buildApp` takes. */
export type AppSettingsOf<T> = {
  -readonly [K in keyof T as T[K] extends Option<unknown, "process"> ? never : K]: ValueOf<T[K]>;
};

type ValueOf<N> = N extends Option<infer V> ? V : SettingsOf<N>;

function isOption(node: Option<unknown> | OptionTree): node is Option<unknown> {
  return typeof node.parse === "function";
}

/** Every option of `tree`, in the order declared. */
export function listOptions(tree: OptionTree): Option<unknown>[] {
  return Object.values(tree).flatMap((node) => (isOption(node) ? [node] : listOptions(node)));
}

/**
 * The settings of `tree`, each the value of `settingOf(option)`. The signature, not a cast,
 * ties the result to the declaration: `settingOf` returns what the option's own type allows
 * (its default, or what its `parse` returned).
 */
export function mapOptions<T extends OptionTree>(
  tree: T,
  settingOf: <V>(option: Option<V>) => V,
): SettingsOf<T>;
export function mapOptions(
  tree: OptionTree,
  settingOf: <V>(option: Option<V>) => V,
): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(tree).map(([key, node]) => [
      key,
      isOption(node) ? settingOf(node) : mapOptions(node, settingOf),
    ]),
  );
}

/** The app's part of `settings` (see {@link Scope}). */
export function appSettingsOf<T extends OptionTree>(
  tree: T,
  settings: SettingsOf<T>,
): AppSettingsOf<T>;
export function appSettingsOf(
  tree: OptionTree,
  settings: Record<string, unknown>,
): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(settings).filter(([key]) => {
      const node = tree[key];
      return node === undefined || !isOption(node) || node.scope === "app";
    }),
  );
}
