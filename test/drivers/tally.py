"""What the driver scripts share: the result checks, the clients' threads and the one-line JSON report."""
import json
import threading
import time

CLIENTS = 20
ITERATIONS = 50
ROWS = 5


def expect(actual, wanted, what):
    if actual != wanted:
        raise AssertionError(f'{what}: got {actual!r}, expected {wanted!r}')


class Tally:
    """Successes and failures of all clients; safe to share between threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.ok = 0
        self.errors = 0
        self.first_error = None

    def succeed(self):
        with self.lock:
            self.ok += 1

    def fail(self, client, where, err):
        with self.lock:
            self.errors += 1
            if self.first_error is None:
                self.first_error = f'client {client}, {where}: {type(err).__name__}: {err}'

    def report(self, driver, expected=CLIENTS * ITERATIONS):
        """Print the JSON line; returns the exit code (0 only if all `expected` iterations succeeded)."""
        print(json.dumps({'driver': driver, 'ok': self.ok, 'errors': self.errors, 'firstError': self.first_error}))
        return 0 if self.errors == 0 and self.ok == expected else 1


def run_clients(count, client, args, tally, deadline_s):
    """Runs client(index, *args, tally) in `count` daemon threads (one stuck in libpq must not
    keep the process alive after the report); those not finished by the deadline count as failed."""
    threads = [threading.Thread(target=client, args=(i, *args, tally), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + deadline_s
    for index, thread in enumerate(threads):
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            tally.fail(index, 'deadline', TimeoutError(f'not finished after {deadline_s} s'))
