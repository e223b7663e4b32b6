-- A nightly export someone wants to ship. Two of these statements must not pass review.
-- privgate: purpose=analytics

SELECT customer_id, email, country FROM sales.customers;

SELECT customer_id, ssn, birth_date FROM sales.customers;

SELECT c.email, sum(o.amount) AS spend
FROM sales.orders o JOIN sales.customers c ON c.customer_id = o.customer_id
GROUP BY c.email
ORDER BY spend DESC
LIMIT 10;
