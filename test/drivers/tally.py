"""What the driver scripts share: the result checks and the one-line JSON report."""
import json
import threading

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
