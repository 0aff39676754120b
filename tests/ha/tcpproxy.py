"""A small TCP proxy on 127.0.0.1 that a test can cut, to put a network partition between one
intake server and the database without touching either.

cut("both") is a partition as a lost link looks: nothing passes in either direction and no
connection is reset (bytes are read and dropped, new connections are accepted and left hanging),
so only timeouts and keepalives can notice it. cut("replies") drops only what the database sends:
statements still arrive and commit, their answers never come back (the "commit outcome unknown"
case). heal() lets traffic pass again on the connections still open and on new ones."""
import select
import socket
import threading


class TcpProxy:
    def __init__(self, target_port, target_host="127.0.0.1"):
        self.target = (target_host, target_port)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.mode = "pass"  # pass | both | replies
        self.closing = False
        self.lock = threading.Lock()
        self.pairs = []
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    def cut(self, mode="both"):
        assert mode in ("both", "replies")
        self.mode = mode

    def heal(self):
        self.mode = "pass"

    def close(self):
        self.closing = True
        self.listener.close()
        with self.lock:
            for a, b in self.pairs:
                for s in (a, b):
                    try:
                        s.close()
                    except OSError:
                        pass
            self.pairs = []

    def _accept_loop(self):
        while not self.closing:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()  # the target itself is down: as the real network would say
                continue
            with self.lock:
                self.pairs.append((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, client, upstream):
        socks = [client, upstream]
        try:
            while not self.closing:
                readable, _, _ = select.select(socks, [], [], 0.2)
                for s in readable:
                    data = s.recv(65536)
                    if not data:
                        return
                    to_db = s is client
                    if self.mode == "both" or (self.mode == "replies" and not to_db):
                        continue  # dropped on the floor: the link is cut
                    (upstream if to_db else client).sendall(data)
        except OSError:
            pass
        finally:
            for s in socks:
                try:
                    s.close()
                except OSError:
                    pass
