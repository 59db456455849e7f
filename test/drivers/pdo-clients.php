<?php
// PHP's PDO (pdo_pgsql) on its defaults through pgtide: 20 forked clients, one connection each,
// 50 iterations. PDO prepares every statement on the server under its own name, frees it with
// an SQL DEALLOCATE when the statement object goes (also after a ROLLBACK), and reads an id with
// lastInsertId(): SELECT lastval(), or currval() of the named sequence, in the session where the
// INSERT ran. Every answer is checked; an id is checked against the row it names. Prints one JSON
// line; exits non-zero on any error. Connection settings come from PGHOST PGPORT PGUSER
// PGPASSWORD PGDATABASE; PDO_CLIENTS sets the number of clients. Needs Debian's php-cli and
// php-pgsql.

define('CLIENTS', (int) (getenv('PDO_CLIENTS') ?: 20));
const ITERATIONS = 50;
const DEADLINE_S = 25;

function connect(): PDO
{
    $dsn = sprintf('pgsql:host=%s;port=%s;dbname=%s;connect_timeout=10', getenv('PGHOST'), getenv('PGPORT'), getenv('PGDATABASE'));
    return new PDO($dsn, getenv('PGUSER'), getenv('PGPASSWORD'), [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]);
}

function expect($actual, $wanted, string $what): void
{
    if ($actual !== $wanted) {
        throw new RuntimeException(sprintf('%s: got %s, expected %s', $what, var_export($actual, true), var_export($wanted, true)));
    }
}

function iteration(PDO $db, string $table, int $client, int $n): void
{
    $label = "c$client:$n";
    $insert = $db->prepare("INSERT INTO $table (label) VALUES (?)");
    $insert->execute([$label]);
    $last = $db->lastInsertId();
    $named = $db->lastInsertId("{$table}_id_seq");
    expect($named, $last, 'lastInsertId of the sequence');
    $check = $db->prepare("SELECT label FROM $table WHERE id = ?");
    $check->execute([(int) $last]);
    expect($check->fetchColumn(), $label, "the row of lastInsertId $last");
    unset($insert, $check);

    $double = $db->prepare('SELECT ?::int4 * 2');
    $double->execute([$n]);
    expect($double->fetchColumn(), $n * 2, 'doubled');
    unset($double);

    $db->beginTransaction();
    $fails = $db->prepare('SELECT 1 / (?::int4 - ?::int4)');
    try {
        $fails->execute([$n, $n]);
        throw new RuntimeException('division by zero did not fail');
    } catch (PDOException $e) {
        expect($e->getCode(), '22012', 'SQLSTATE of the division by zero');
    }
    $db->rollBack();
    unset($fails);

    $count = $db->prepare("SELECT count(*) FROM $table WHERE label LIKE ?");
    $count->execute(["c$client:%"]);
    expect($count->fetchColumn(), $n + 1, 'rows of this client');
}

/** One forked client: its successes, errors and first error, as a line on `$pipe`. */
function client(int $index, string $table, $pipe): void
{
    $ok = 0;
    $errors = 0;
    $first = null;
    try {
        $db = connect();
        for ($n = 0; $n < ITERATIONS; $n++) {
            try {
                iteration($db, $table, $index, $n);
                $ok++;
            } catch (Throwable $e) {
                $errors++;
                $first ??= "client $index, iteration $n: " . get_class($e) . ': ' . $e->getMessage();
                if ($db->inTransaction()) {
                    $db->rollBack();
                }
            }
        }
    } catch (Throwable $e) {
        $errors++;
        $first ??= "client $index, connect: " . get_class($e) . ': ' . $e->getMessage();
    }
    fwrite($pipe, json_encode(['ok' => $ok, 'errors' => $errors, 'firstError' => $first]) . "\n");
}

function main(): int
{
    $table = 'pdo_clients_' . getmypid();
    $setup = connect();
    $setup->exec("CREATE TABLE $table (id serial PRIMARY KEY, label text NOT NULL)");
    $children = [];
    for ($i = 0; $i < CLIENTS; $i++) {
        $pair = stream_socket_pair(STREAM_PF_UNIX, STREAM_SOCK_STREAM, STREAM_IPPROTO_IP);
        $pid = pcntl_fork();
        if ($pid === 0) {
            fclose($pair[0]);
            // Only the child's own connection: the parent's must not be closed by the child's exit.
            pcntl_alarm(DEADLINE_S);
            client($i, $table, $pair[1]);
            posix_kill(getmypid(), SIGKILL);
        }
        fclose($pair[1]);
        $children[] = $pair[0];
    }
    $total = ['ok' => 0, 'errors' => 0, 'firstError' => null];
    foreach ($children as $i => $pipe) {
        $line = stream_get_contents($pipe);
        $r = json_decode((string) $line, true);
        if (!is_array($r)) {
            $r = ['ok' => 0, 'errors' => 1, 'firstError' => "client $i: no report within " . DEADLINE_S . ' s'];
        }
        $total['ok'] += $r['ok'];
        $total['errors'] += $r['errors'];
        $total['firstError'] ??= $r['firstError'];
    }
    while (pcntl_wait($status) > 0);
    $setup->exec("DROP TABLE $table");
    $total = ['driver' => 'PDO pgsql (PHP ' . PHP_VERSION . ')'] + $total;
    echo json_encode($total), "\n";
    return $total['errors'] === 0 && $total['ok'] === CLIENTS * ITERATIONS ? 0 : 1;
}

exit(main());
