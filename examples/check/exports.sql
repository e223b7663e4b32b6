-- A nightly export someone wants to ship. Two of these statements must not pass review.
-- privgate: purpose=analytics

SELECT customer_id, email, country FROM sales.customers;

SELECT customer_id, ssn, birth_date FROM sales.customers;

SELECT o.order_id, o.amount
FROM sales.orders o JOIN sales.customers c ON c.customer_id = o.customer_id
WHERE c.email = 'jane.doe@example.com';
