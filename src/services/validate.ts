import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { createValidator } from "@bufbuild/protovalidate";
import { Code, ConnectError } from "@connectrpc/connect";
import type { ChatLimits } from "./limits.ts";

/**
 * Request validation at the RPC edge. The rules live in the proto
 * (`buf.validate` annotations in proto/chat/v1/chat.proto), so every client
 * can read them; `@bufbuild/protovalidate` enforces them here. Only the text
 * size, which a deployment configures, is checked in code.
 */
const validator = createValidator();
const encoder = new TextEncoder();

/** Throws InvalidArgument listing every violated rule of `message`. */
export function validateRequest<Desc extends DescMessage>(
  schema: Desc,
  message: MessageShape<Desc>,
): void {
  const result = validator.validate(schema, message);
  if (result.kind === "valid") return;
  if (result.kind === "invalid") {
    throw new ConnectError(
      result.violations.map((v) => v.toString()).join("; "),
      Code.InvalidArgument,
    );
  }
  // The rules themselves failed to compile: a server bug, not bad input.
  throw result.error;
}

/** The configurable size limit of a message text. */
export function validateTextSize(text: string, limits: ChatLimits): void {
  // Cheap upper bound first: a UTF-16 unit is at most 3 UTF-8 bytes.
  if (text.length * 3 > limits.maxTextBytes && encoder.encode(text).length > limits.maxTextBytes) {
    throw new ConnectError(
      `text: must be at most ${limits.maxTextBytes} UTF-8 bytes`,
      Code.InvalidArgument,
    );
  }
}
