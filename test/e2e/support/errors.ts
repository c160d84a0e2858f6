import assert from "node:assert/strict";
import { ConnectError } from "@connectrpc/connect";

/** Runs `call` (a unary call, or the full read of a stream) and returns the error it must end with. */
export async function expectError(call: () => Promise<unknown>): Promise<ConnectError> {
  try {
    await call();
  } catch (e) {
    return ConnectError.from(e);
  }
  assert.fail("expected the call to fail");
}

/** Reads a response stream to its end. */
export async function drain(stream: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of stream) {
    // Only the outcome matters.
  }
}
