/**
 * The head of an HTTP/1.1 POST of `contentLength` bytes of JSON to `path`,
 * asking the server to close the connection after it, up to and including
 * the blank line: for a test that writes a request byte by byte on a raw
 * socket. Plain strings: native specs use it under Bun and Deno too.
 */
export function http1PostHead(path: string, contentLength: number, host = "127.0.0.1"): string {
  return [
    `POST ${path} HTTP/1.1`,
    `Host: ${host}`,
    "Content-Type: application/json",
    `Content-Length: ${contentLength}`,
    "Connection: close",
    "",
    "",
  ].join("\r\n");
}
