import type * as http from "node:http";
import type * as http2 from "node:http2";
import type * as net from "node:net";
import { createSniffer, type SniffedProtocol } from "./sniff.ts";

/**
 * Reads a new connection's first bytes until its protocol is known (see `createSniffer`),
 * within `timeoutMs` of being accepted, then gives it to `handOver` with the bytes read.
 * A connection that says too little in time, ends or fails first is destroyed.
 */
export function sniffConnection(
  socket: net.Socket,
  timeoutMs: number,
  sniffing: Set<net.Socket>,
  handOver: (socket: net.Socket, protocol: SniffedProtocol, bytes: Buffer) => void,
): void {
  sniffing.add(socket);
  const sniffer = createSniffer();
  // A deadline, not an idle timeout: trickling one byte at a time must not extend it.
  const deadline = setTimeout(() => socket.destroy(), timeoutMs);
  const stopSniffing = () => {
    clearTimeout(deadline);
    sniffing.delete(socket);
    socket.off("data", onSniffData);
    socket.off("end", onEnd);
    socket.off("error", onError);
    socket.off("close", stopSniffing);
  };
  const onSniffData = (chunk: Buffer) => {
    const sniffed = sniffer.push(chunk);
    if (sniffed === undefined) return;
    stopSniffing();
    const { buffer, byteOffset, length } = sniffed.bytes;
    handOver(socket, sniffed.protocol, Buffer.from(buffer, byteOffset, length));
  };
  // Neither server owns the socket yet: a reset or an early FIN just ends it.
  const onEnd = () => socket.destroy();
  const onError = () => socket.destroy();
  socket.on("data", onSniffData);
  socket.on("end", onEnd);
  socket.on("error", onError);
  socket.on("close", stopSniffing);
}

/** Gives `socket` to `owner` (an inner server) as a new connection, `bytes` first. */
export function handOff(
  socket: net.Socket,
  bytes: Buffer,
  owner: http.Server | http2.Http2Server,
): void {
  // The caller removed our "data" listener first: seeing the bytes again, it would unshift them
  // again, forever, at 100% CPU. Pausing keeps a flowing socket from emitting the unshifted
  // bytes to no listener (they would be lost) before the new owner attaches.
  socket.pause();
  socket.unshift(bytes);
  owner.emit("connection", socket);
  // An owner that reads through "data" events (Node's HTTP/1.1 parser, Bun's and Deno's
  // http2) needs the socket flowing again. Node's http2 session reads the native handle and
  // drains the unshifted bytes itself on the next tick: resuming would flow them to nobody.
  if (socket.listenerCount("data") > 0) {
    // Deno workaround (not yet reported upstream; test/runtimes/runtime-quirks.spec.ts): its
    // HTTP/1.1 server, like Node's, reads later bytes straight from the socket's handle, and on
    // Deno such a read can land before resume() flushes the unshifted bytes on the next tick:
    // the request body then reaches the parser ahead of the request line (400 Bad Request).
    // read() hands the unshifted bytes to the owner now, before any later read.
    socket.read();
    socket.resume();
  }
}
