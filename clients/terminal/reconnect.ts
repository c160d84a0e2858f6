/**
 * Reconnect delays of the terminal client: 250 ms doubling up to 5 s, with
 * the session's jitter (its default ceiling is 10 s). A person is waiting at
 * a prompt, so a server restart should be over for them within seconds; the
 * jitter still spreads many clients apart.
 */
export const reconnectBackoff = { initialMs: 250, maxMs: 5000 };
