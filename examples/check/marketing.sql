-- privgate: principal=mia purpose=marketing
SELECT e.channel, count(*) AS touches
FROM marketing.campaign_events e JOIN sales.customers c ON c.customer_id = e.customer_id
GROUP BY e.channel;
