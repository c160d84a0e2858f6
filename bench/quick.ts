import { parseArgs } from "node:util";

/**
 * `--quick`, the benches' one flag (bench/peers.ts has its own set): every
 * figure shrinks, for a smoke test whose numbers mean little. Default off.
 */
export function quickFlag(): boolean {
  const { values } = parseArgs({ options: { quick: { type: "boolean", default: false } } });
  return values.quick === true;
}
