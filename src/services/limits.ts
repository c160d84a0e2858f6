/**
 * Input limits enforced at the RPC edge. Defaults suit a chat; a deployment
 * can change them through configuration (see `src/config.ts`).
 */
export interface ChatLimits {
  /** Largest message text in UTF-8 bytes. Default 4096. */
  maxTextBytes: number;
  /** Longest sender name in characters. Default 64. */
  maxSenderLength: number;
  /** Largest page of GetHistory and largest `last` of Subscribe. Default 500. */
  maxPageSize: number;
}

export const defaultLimits: ChatLimits = {
  maxTextBytes: 4096,
  maxSenderLength: 64,
  maxPageSize: 500,
};
