"""Headless copy of the python-grpc-chat seed's client, for end-to-end tests.

The gRPC calls are the seed's own, unchanged: the same channel, stub, listener
thread and SendNote. Only the Tk window is gone: lines read from stdin are
sent as notes, and every received note is printed as `R[name] message`.

Usage: seed_client.py NAME
  CHAT_ADDRESS / CHAT_PORT override the seed's localhost:11912 (tests use a
  free port). When stdin closes, received notes are still printed for
  CHAT_DRAIN_SECONDS (default 0.5), then the process exits.

chat_pb2 / chat_pb2_grpc are generated from chat.proto at test time (see
test/e2e/support/seed-python.ts) and found through PYTHONPATH.
"""

import os
import sys
import threading
import time

import grpc

import chat_pb2 as chat
import chat_pb2_grpc as rpc

address = os.environ.get('CHAT_ADDRESS', 'localhost')
port = int(os.environ.get('CHAT_PORT', '11912'))

# The listener thread and the main thread both print; one line at a time.
_print_lock = threading.Lock()


def say(line: str, file=sys.stdout):
    with _print_lock:
        file.write(line + "\n")
        file.flush()


class Client:

    def __init__(self, u: str):
        self.username = u
        # create a gRPC channel + stub, exactly as the seed does
        channel = grpc.insecure_channel(address + ':' + str(port))
        self.conn = rpc.ChatServerStub(channel)
        # a listener thread for incoming notes, as in the seed
        threading.Thread(target=self.__listen_for_messages, daemon=True).start()

    def __listen_for_messages(self):
        try:
            for note in self.conn.ChatStream(chat.Empty()):
                say("R[{}] {}".format(note.name, note.message))
        except grpc.RpcError as e:
            say("E[{}] {}".format(e.code().name, e.details()), sys.stderr)

    def send_message(self, message: str):
        if message != '':
            n = chat.Note()
            n.name = self.username
            n.message = message
            say("S[{}] {}".format(n.name, n.message))
            self.conn.SendNote(n)


def main():
    if len(sys.argv) != 2:
        say("usage: seed_client.py NAME", sys.stderr)
        sys.exit(2)
    client = Client(sys.argv[1])
    for line in sys.stdin:
        client.send_message(line.rstrip('\n'))
    time.sleep(float(os.environ.get('CHAT_DRAIN_SECONDS', '0.5')))


if __name__ == '__main__':
    main()
