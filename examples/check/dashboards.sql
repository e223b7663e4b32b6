-- Revenue dashboard queries, run by the BI service account for analytics.
-- privgate: principal=ci purpose=analytics

SELECT date_trunc('month', o.order_date) AS month, count(*) AS orders, sum(o.amount) AS revenue
FROM sales.orders o
GROUP BY 1;

SELECT p.category, avg(o.amount) AS avg_amount
FROM sales.orders o JOIN products.products p ON p.product_id = o.product_id
GROUP BY p.category;

SELECT category, count(*) FROM products.products GROUP BY category;
