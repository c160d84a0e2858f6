import { Code, ConnectError } from "@connectrpc/connect";
import type { SendRequest } from "../gen/chat/v1/chat_pb.ts";
import type { ChatLimits } from "./limits.ts";

/** Room names: safe in URLs, keys and logs. */
const roomPattern = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const clientIdPattern = /^[\x21-\x7e]{0,64}$/;
const encoder = new TextEncoder();

function invalid(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}

export function validateRoom(room: string): void {
  if (!roomPattern.test(room)) {
    throw invalid(
      `room ${JSON.stringify(room.slice(0, 80))} is not valid: use 1 to 64 of a-z 0-9 . _ -, starting with a letter or digit`,
    );
  }
}

export function validateText(text: string, limits: ChatLimits, allowEmpty = false): void {
  if (!allowEmpty && text.trim() === "") throw invalid("text must not be empty");
  // Cheap upper bound first: a UTF-16 unit is at most 3 UTF-8 bytes.
  if (text.length * 3 > limits.maxTextBytes && encoder.encode(text).length > limits.maxTextBytes) {
    throw invalid(`text is longer than ${limits.maxTextBytes} bytes`);
  }
}

export function validateSend(req: SendRequest, limits: ChatLimits): void {
  validateRoom(req.room);
  if (req.sender.trim() === "") throw invalid("sender must not be empty");
  if (req.sender.length > limits.maxSenderLength) {
    throw invalid(`sender is longer than ${limits.maxSenderLength} characters`);
  }
  validateText(req.text, limits);
  if (!clientIdPattern.test(req.clientId)) {
    throw invalid("client_id must be at most 64 printable ASCII characters");
  }
}

export function validatePageSize(n: number, limits: ChatLimits, field: string): void {
  if (n > limits.maxPageSize) throw invalid(`${field} must be at most ${limits.maxPageSize}`);
}
