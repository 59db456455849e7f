// pgJDBC through pgtide: 20 threads, one connection each, running 50 iterations of
// parameterized prepared statements, checking every result. Prints one JSON line; exits
// non-zero on any error.
//
// prepareThreshold=1 makes pgJDBC use a named server-side statement from a PreparedStatement's
// first execution on, so later executions may run on a different server connection than the
// Parse in transaction pooling.
//
// With an argument, `read` or `mixed`, it runs a routing workload instead (see Routing below);
// with `batch`, statement batches through a tiny statement cache (see Batch below).
//
// Connection settings come from PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE.
// Run as a single-file source program with Debian's driver (libpostgresql-jdbc-java); the
// launcher needs the jdk.compiler module, which Debian's openjdk-17-jre-headless ships:
//   java -cp /usr/share/java/postgresql.jar test/drivers/Jdbc.java
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Properties;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

public class Jdbc {
    static final int CLIENTS = 20;
    static final int ITERATIONS = 50;
    static final int ROWS = 5;
    // A stalled proxy must give a report, not a hang: per query, and for the whole run.
    static final int QUERY_TIMEOUT_S = 10;
    static final int DEADLINE_S = 25;

    static final AtomicInteger ok = new AtomicInteger();
    static final AtomicInteger errors = new AtomicInteger();
    static final AtomicReference<String> firstError = new AtomicReference<>();

    public static void main(String[] args) throws InterruptedException {
        if (args.length > 0 && args[0].equals("batch")) Batch.main();
        if (args.length > 0) Routing.main(args[0]);
        String url = "jdbc:postgresql://" + env("PGHOST") + ":" + env("PGPORT") + "/" + env("PGDATABASE")
                + "?prepareThreshold=1&connectTimeout=" + QUERY_TIMEOUT_S + "&socketTimeout=" + QUERY_TIMEOUT_S;
        Properties props = new Properties();
        props.setProperty("user", env("PGUSER"));
        props.setProperty("password", Objects.requireNonNullElse(System.getenv("PGPASSWORD"), ""));

        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < CLIENTS; i++) {
            int index = i;
            Thread thread = new Thread(() -> client(index, url, props));
            thread.setDaemon(true); // one stuck in a read must not keep the JVM alive after the report
            threads.add(thread);
        }
        for (Thread thread : threads) thread.start();
        long deadline = System.nanoTime() + DEADLINE_S * 1_000_000_000L;
        for (int i = 0; i < CLIENTS; i++) {
            Thread thread = threads.get(i);
            thread.join(Math.max(1, (deadline - System.nanoTime()) / 1_000_000));
            if (thread.isAlive()) fail(i, "deadline", new TimeoutException("not finished after " + DEADLINE_S + " s"));
        }

        String driver = "pgjdbc " + org.postgresql.util.DriverInfo.DRIVER_VERSION;
        System.out.println("{\"driver\":" + json(driver) + ",\"ok\":" + ok.get() + ",\"errors\":" + errors.get()
                + ",\"firstError\":" + json(firstError.get()) + "}");
        System.exit(errors.get() == 0 && ok.get() == CLIENTS * ITERATIONS ? 0 : 1);
    }

    static void client(int index, String url, Properties props) {
        try (Connection conn = DriverManager.getConnection(url, props);
             PreparedStatement doubled = conn.prepareStatement("SELECT ?::int4 * 2");
             PreparedStatement series = conn.prepareStatement(
                     "SELECT g, g * ?::int8 FROM generate_series(1, ?::int4) AS g");
             PreparedStatement addOne = conn.prepareStatement("SELECT ?::int4 + 1");
             PreparedStatement label = conn.prepareStatement("SELECT ?::text || ':' || ?::int4")) {
            for (int n = 0; n < ITERATIONS; n++) {
                try {
                    expect(single(doubled, n), String.valueOf(n * 2), "doubled");
                    checkSeries(series, n);
                    conn.setAutoCommit(false);
                    try {
                        expect(single(addOne, n), String.valueOf(n + 1), "add_one");
                        expect(single(label, "c" + index, n), "c" + index + ":" + n, "label");
                        conn.commit();
                    } catch (Exception err) {
                        if (!conn.isClosed()) conn.rollback();
                        throw err;
                    } finally {
                        if (!conn.isClosed()) conn.setAutoCommit(true);
                    }
                    ok.incrementAndGet();
                } catch (Exception err) {
                    fail(index, "iteration " + n, err);
                    if (conn.isClosed()) return;
                }
            }
        } catch (Exception err) {
            fail(index, "connection", err);
        }
    }

    static void checkSeries(PreparedStatement series, int n) throws SQLException {
        series.setLong(1, n);
        series.setInt(2, ROWS);
        StringBuilder got = new StringBuilder();
        StringBuilder wanted = new StringBuilder();
        try (ResultSet rs = series.executeQuery()) {
            while (rs.next()) got.append(rs.getInt(1)).append('*').append(rs.getLong(2)).append(' ');
        }
        for (int g = 1; g <= ROWS; g++) wanted.append(g).append('*').append((long) g * n).append(' ');
        expect(got.toString(), wanted.toString(), "series");
    }

    /** Executes a one-row, one-column query and returns its value as text. */
    static String single(PreparedStatement stmt, Object... params) throws SQLException {
        for (int i = 0; i < params.length; i++) stmt.setObject(i + 1, params[i]);
        try (ResultSet rs = stmt.executeQuery()) {
            if (!rs.next()) throw new IllegalStateException("no row");
            String value = rs.getString(1);
            if (rs.next()) throw new IllegalStateException("more than one row");
            return value;
        }
    }

    static void expect(String actual, String wanted, String what) {
        if (!actual.equals(wanted)) throw new IllegalStateException(what + ": got " + actual + ", expected " + wanted);
    }

    static void fail(int client, String where, Exception err) {
        errors.incrementAndGet();
        firstError.compareAndSet(null, "client " + client + ", " + where + ": " + err);
    }

    static String env(String name) {
        String value = System.getenv(name);
        if (value == null) throw new IllegalArgumentException(name + " is not set");
        return value;
    }

    static String json(String s) {
        if (s == null) return "null";
        StringBuilder out = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') out.append('\\').append(c);
            else if (c < 0x20) out.append(String.format("\\u%04x", (int) c));
            else out.append(c);
        }
        return out.append('"').toString();
    }
}

/**
 * A routing workload on pgJDBC's default settings (prepareThreshold = 5: from a
 * PreparedStatement's 5th execution on, each run is a Bind of a named statement parsed earlier),
 * one connection, every result checked; the same workload as routing-workload.py.
 * read:  READS autocommit reads of prep_read by id.
 * mixed: MIXED rounds of: insert a row of prep_mixed (ids from ROUTING_ID_BASE), read it back
 *        (it must be there: read-your-writes is the default), update it with RETURNING, a
 *        locking read, nextval (a writing function), and an explicit transaction that writes
 *        and reads.
 */
class Routing extends Jdbc {
    static final int READS = 1200;
    static final int MIXED = 60;

    static void main(String workload) {
        int base = Integer.parseInt(Objects.requireNonNullElse(System.getenv("ROUTING_ID_BASE"), "1"));
        // Writers ask for the primary, as HA URLs listing several hosts do: pgJDBC then checks
        // in_hot_standby and SHOW transaction_read_only at connect.
        String url = "jdbc:postgresql://" + env("PGHOST") + ":" + env("PGPORT") + "/" + env("PGDATABASE")
                + "?connectTimeout=" + QUERY_TIMEOUT_S + "&socketTimeout=" + QUERY_TIMEOUT_S
                + (workload.equals("read") ? "" : "&targetServerType=primary");
        Properties props = new Properties();
        props.setProperty("user", env("PGUSER"));
        props.setProperty("password", Objects.requireNonNullElse(System.getenv("PGPASSWORD"), ""));
        try (Connection conn = DriverManager.getConnection(url, props)) {
            if (workload.equals("read")) read(conn);
            else mixed(conn, base);
        } catch (SQLException err) {
            fail(0, "connection", err);
        }
        int expected = workload.equals("read") ? READS : MIXED;
        System.out.println("{\"driver\":\"pgjdbc " + org.postgresql.util.DriverInfo.DRIVER_VERSION + " " + workload
                + "\",\"ok\":" + ok.get() + ",\"errors\":" + errors.get() + ",\"firstError\":" + json(firstError.get()) + "}");
        System.exit(errors.get() == 0 && ok.get() == expected ? 0 : 1);
    }

    static void read(Connection conn) throws SQLException {
        try (PreparedStatement read = conn.prepareStatement("SELECT v FROM prep_read WHERE id = ?")) {
            for (int n = 0; n < READS; n++) {
                int key = 1 + n % 100;
                try {
                    expect(single(read, key), "v" + key, "read");
                    ok.incrementAndGet();
                } catch (Exception err) {
                    fail(0, "read " + n, err);
                }
            }
        }
    }

    static void mixed(Connection conn, int base) throws SQLException {
        try (PreparedStatement insert = conn.prepareStatement("INSERT INTO prep_mixed (id, v) VALUES (?, ?)");
             PreparedStatement readBack = conn.prepareStatement("SELECT v FROM prep_mixed WHERE id = ?");
             PreparedStatement update = conn.prepareStatement("UPDATE prep_mixed SET v = v || ? WHERE id = ? RETURNING v");
             PreparedStatement locking = conn.prepareStatement("SELECT v FROM prep_mixed WHERE id = ? FOR UPDATE");
             PreparedStatement nextval = conn.prepareStatement("SELECT nextval('prep_seq') > ?")) {
            for (int n = 0; n < MIXED; n++) {
                int key = base + n;
                try {
                    insert.setInt(1, key);
                    insert.setString(2, "r" + key);
                    insert.executeUpdate();
                    expect(single(readBack, key), "r" + key, "read back");
                    expect(single(update, "+", key), "r" + key + "+", "update");
                    expect(single(locking, key), "r" + key + "+", "locking read");
                    expect(single(nextval, 0), "t", "nextval");
                    conn.setAutoCommit(false);
                    try {
                        single(update, "!", key);
                        expect(single(readBack, key), "r" + key + "+!", "read in transaction");
                        conn.commit();
                    } catch (Exception err) {
                        conn.rollback();
                        throw err;
                    } finally {
                        conn.setAutoCommit(true);
                    }
                    ok.incrementAndGet();
                } catch (Exception err) {
                    fail(0, "round " + n, err);
                }
            }
        }
    }
}

/**
 * Batches (executeBatch: many Bind/Execute before one Sync) through a statement cache of two
 * (preparedStatementCacheQueries=2, prepareThreshold=1), so that pgJDBC closes the statement it
 * evicts in the middle of its next request: CLIENTS threads x BATCH_ROUNDS rounds of five
 * statement texts in turn, a batch of inserts, one failing in its middle (23505: nothing of it
 * stays), and a batch of updates rolled back; every result checked.
 */
class Batch extends Jdbc {
    static final int BATCH_ROUNDS = 10;

    static void main() throws InterruptedException {
        String url = "jdbc:postgresql://" + env("PGHOST") + ":" + env("PGPORT") + "/" + env("PGDATABASE")
                + "?prepareThreshold=1&preparedStatementCacheQueries=2&connectTimeout=" + QUERY_TIMEOUT_S
                + "&socketTimeout=" + QUERY_TIMEOUT_S;
        Properties props = new Properties();
        props.setProperty("user", env("PGUSER"));
        props.setProperty("password", Objects.requireNonNullElse(System.getenv("PGPASSWORD"), ""));
        try (Connection conn = DriverManager.getConnection(url, props);
             java.sql.Statement st = conn.createStatement()) {
            st.execute("CREATE TABLE IF NOT EXISTS jdbc_batch (client int, n int, v text, PRIMARY KEY (client, n))");
            st.execute("TRUNCATE jdbc_batch");
        } catch (SQLException err) {
            fail(0, "setup", err);
        }
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < CLIENTS; i++) {
            int index = i;
            Thread thread = new Thread(() -> client(index, url, props));
            thread.setDaemon(true);
            threads.add(thread);
            thread.start();
        }
        long deadline = System.nanoTime() + DEADLINE_S * 1_000_000_000L;
        for (int i = 0; i < CLIENTS; i++) {
            threads.get(i).join(Math.max(1, (deadline - System.nanoTime()) / 1_000_000));
            if (threads.get(i).isAlive()) fail(i, "deadline", new TimeoutException("not finished after " + DEADLINE_S + " s"));
        }
        System.out.println("{\"driver\":\"pgjdbc " + org.postgresql.util.DriverInfo.DRIVER_VERSION + " batch\",\"ok\":"
                + ok.get() + ",\"errors\":" + errors.get() + ",\"firstError\":" + json(firstError.get()) + "}");
        System.exit(errors.get() == 0 && ok.get() == CLIENTS * BATCH_ROUNDS ? 0 : 1);
    }

    static void client(int index, String url, Properties props) {
        try (Connection conn = DriverManager.getConnection(url, props)) {
            for (int round = 0; round < BATCH_ROUNDS; round++) {
                try {
                    round(conn, index, round * 100);
                    ok.incrementAndGet();
                } catch (Exception err) {
                    fail(index, "round " + round, err);
                    if (conn.isClosed()) return;
                    if (!conn.getAutoCommit()) {
                        conn.rollback();
                        conn.setAutoCommit(true);
                    }
                }
            }
        } catch (Exception err) {
            fail(index, "connection", err);
        }
    }

    static void round(Connection conn, int index, int base) throws SQLException {
        for (int k = 0; k < 5; k++) {
            try (PreparedStatement times = conn.prepareStatement("SELECT ?::int4 * " + (k + 2))) {
                expect(single(times, base + k), String.valueOf((base + k) * (k + 2)), "times " + (k + 2));
            }
        }
        try (PreparedStatement insert = conn.prepareStatement("INSERT INTO jdbc_batch (client, n, v) VALUES (?, ?, ?)")) {
            for (int i = 0; i < 5; i++) addRow(insert, index, base + i, "v" + i);
            expect(String.valueOf(insert.executeBatch().length), "5", "batch counts");
            for (int i = 4; i < 8; i++) addRow(insert, index, base + i, "w" + i);
            try {
                insert.executeBatch();
                throw new IllegalStateException("a batch with a duplicate key succeeded");
            } catch (java.sql.BatchUpdateException err) {
                expect(err.getSQLState(), "23505", "duplicate key");
            }
        }
        String rows = "SELECT string_agg(v, ',' ORDER BY n) FROM jdbc_batch WHERE client = ? AND n >= ? AND n < ?";
        try (PreparedStatement read = conn.prepareStatement(rows)) {
            expect(single(read, index, base, base + 100), "v0,v1,v2,v3,v4", "after the batches");
            conn.setAutoCommit(false);
            try (PreparedStatement update = conn.prepareStatement(
                    "UPDATE jdbc_batch SET v = ? WHERE client = ? AND n = ?")) {
                for (int i = 0; i < 5; i++) {
                    update.setString(1, "u" + i);
                    update.setInt(2, index);
                    update.setInt(3, base + i);
                    update.addBatch();
                }
                update.executeBatch();
            }
            expect(single(read, index, base, base + 100), "u0,u1,u2,u3,u4", "inside the transaction");
            conn.rollback();
            conn.setAutoCommit(true);
            expect(single(read, index, base, base + 100), "v0,v1,v2,v3,v4", "after the rollback");
        }
    }

    static void addRow(PreparedStatement insert, int client, int n, String v) throws SQLException {
        insert.setInt(1, client);
        insert.setInt(2, n);
        insert.setString(3, v);
        insert.addBatch();
    }
}
