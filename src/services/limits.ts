/**
 * Input limits that a deployment can change through configuration (see
 * `src/config.ts`). Fixed rules (room names, name lengths, page sizes) live in
 * the proto as protovalidate annotations instead.
 */
export interface ChatLimits {
  /** Largest message text in UTF-8 bytes. Default 4096. */
  maxTextBytes: number;
}

export const defaultLimits: ChatLimits = {
  maxTextBytes: 4096,
};
