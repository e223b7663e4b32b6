// node-postgres against privgate serve: prints one JSON line with what each step returned.
const { Client } = require('pg');

async function main() {
  const client = new Client({ connectionString: process.argv[2] });
  const out = {};
  await client.connect();
  const dp = await client.query('SELECT status, count(*) AS n FROM sales.orders GROUP BY status');
  out.dp = dp.rows;
  out.dpTypes = dp.fields.map((f) => f.dataTypeID);
  const notices = [];
  client.on('notice', (n) => notices.push(n.message));
  await client.query('SELECT segment, count(*) AS n FROM sales.customers GROUP BY segment');
  out.notices = notices;
  const prepared = await client.query({ name: 'prod', text: 'SELECT product_id, name FROM products.products WHERE product_id = $1', values: [5] });
  const again = await client.query({ name: 'prod', text: 'SELECT product_id, name FROM products.products WHERE product_id = $1', values: [6] });
  out.prepared = [prepared.rows[0].product_id, again.rows[0].product_id];
  const masked = await client.query('SELECT customer_id, email FROM sales.customers WHERE customer_id = $1', [3]);
  out.masked = masked.rows;
  try {
    await client.query('SELECT customer_id, ssn FROM sales.customers');
    out.denied = null;
  } catch (e) {
    out.denied = { code: e.code, detail: e.detail };
  }
  out.after = (await client.query('SELECT 10 + 1 AS v')).rows[0].v;
  await client.end();
  console.log(JSON.stringify(out));
}

main().catch((e) => { console.error(e); process.exit(1); });
