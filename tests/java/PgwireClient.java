// pgjdbc against privgate serve: prints key=value lines for tests/test_pgwire_clients.py.
import java.sql.*;

public class PgwireClient {
    public static void main(String[] args) throws Exception {
        try (Connection c = DriverManager.getConnection(args[0], args[1], args[2])) {
            try (Statement s = c.createStatement();
                 ResultSet rs = s.executeQuery("SELECT status, count(*) AS n FROM sales.orders GROUP BY status")) {
                int rows = 0;
                while (rs.next()) { rows++; rs.getLong("n"); }
                System.out.println("dp_rows=" + rows);
                System.out.println("dp_type=" + rs.getMetaData().getColumnTypeName(2));
                SQLWarning w = s.getWarnings();
                System.out.println("dp_notice=" + (w != null && w.getMessage().contains("charged")));
            }
            try (PreparedStatement p = c.prepareStatement("SELECT product_id, name FROM products.products WHERE product_id = ?")) {
                long sum = 0;
                for (int i = 1; i <= 6; i++) {  // pgjdbc switches to a named server-side statement after 5 uses
                    p.setLong(1, i);
                    try (ResultSet rs = p.executeQuery()) { rs.next(); sum += rs.getLong(1); }
                }
                System.out.println("prepared_sum=" + sum);
            }
            try (PreparedStatement p = c.prepareStatement("SELECT customer_id, email FROM sales.customers WHERE customer_id = ?")) {
                p.setLong(1, 3);
                try (ResultSet rs = p.executeQuery()) {
                    boolean raw = false;
                    while (rs.next()) { String e = rs.getString(2); raw |= e != null && e.contains("@"); }
                    System.out.println("masked_raw=" + raw);
                }
            }
            try (Statement s = c.createStatement()) {
                s.executeQuery("SELECT customer_id, ssn FROM sales.customers");
                System.out.println("denied=none");
            } catch (SQLException e) {
                System.out.println("denied=" + e.getSQLState());
            }
            try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT 12")) {
                rs.next();
                System.out.println("after=" + rs.getInt(1));
            }
        }
    }
}
