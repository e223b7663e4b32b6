"""The benchmark workload: 19 aggregate queries, from COUNT(*) to three-table joins with GROUP BY and HAVING.

Every query lists its GROUP BY keys first, then its aggregates, so results from all systems can be
matched cell by cell (key tuple, aggregate position). ``unknown_keys`` marks GROUP BYs whose keys
have no declared public domain: a DP engine must select partitions there, and key recall is the
metric that matters. The same SQL text goes to every system; peers get only mechanical renames
(schema prefixes) that their adapters document.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Query:
    qid: str
    sql: str
    keys: int = 0
    unknown_keys: bool = False
    support: str = ""  # unknown keys: SQL giving (keys..., distinct persons) per true key


O_U = "shop.orders AS o JOIN shop.users AS u ON o.user_id = u.user_id"
O_P = "shop.orders AS o JOIN goods.products AS p ON o.product_id = p.product_id"
O_U_P = f"{O_U} JOIN goods.products AS p ON o.product_id = p.product_id"

WORKLOAD: tuple[Query, ...] = (
    Query("q01_count_orders", "SELECT COUNT(*) AS n FROM shop.orders"),
    Query("q02_count_users", "SELECT COUNT(*) AS n FROM shop.users"),
    Query("q03_sum_amount", "SELECT SUM(amount) AS revenue FROM shop.orders"),
    Query("q04_avg_amount", "SELECT AVG(amount) AS avg_amount FROM shop.orders"),
    Query("q05_distinct_buyers", "SELECT COUNT(DISTINCT user_id) AS buyers FROM shop.orders"),
    Query("q06_where_count", "SELECT COUNT(*) AS n FROM shop.orders WHERE amount > 100 AND status = 'delivered'"),
    Query("q07_status_count", "SELECT status, COUNT(*) AS n FROM shop.orders GROUP BY status", keys=1),
    Query("q08_status_sum_avg",
          "SELECT status, SUM(amount) AS revenue, AVG(quantity) AS avg_qty FROM shop.orders GROUP BY status", keys=1),
    Query("q09_country_plan_users",
          "SELECT country, plan, COUNT(*) AS n, AVG(age) AS avg_age FROM shop.users GROUP BY country, plan", keys=2),
    Query("q10_city_users", "SELECT city, COUNT(*) AS n FROM shop.users GROUP BY city", keys=1, unknown_keys=True,
          support="SELECT city, COUNT(*) FROM shop.users GROUP BY city"),
    Query("q11_coupon_orders", "SELECT coupon, COUNT(*) AS n FROM shop.orders WHERE coupon IS NOT NULL GROUP BY coupon",
          keys=1, unknown_keys=True,
          support="SELECT coupon, COUNT(DISTINCT user_id) FROM shop.orders WHERE coupon IS NOT NULL GROUP BY coupon"),
    Query("q12_year_buyers",
          "SELECT EXTRACT(YEAR FROM order_date) AS yr, COUNT(DISTINCT user_id) AS buyers, SUM(amount) AS revenue "
          "FROM shop.orders GROUP BY EXTRACT(YEAR FROM order_date)", keys=1, unknown_keys=True,
          support="SELECT EXTRACT(YEAR FROM order_date), COUNT(DISTINCT user_id) FROM shop.orders GROUP BY 1"),
    Query("q13_join_users_country",
          f"SELECT u.country, COUNT(*) AS n, SUM(o.amount) AS revenue FROM {O_U} GROUP BY u.country", keys=1),
    Query("q14_join_users_city",
          f"SELECT u.city, COUNT(*) AS n FROM {O_U} GROUP BY u.city", keys=1, unknown_keys=True,
          support=f"SELECT u.city, COUNT(DISTINCT o.user_id) FROM {O_U} GROUP BY u.city"),
    Query("q15_join_products_category",
          f"SELECT p.category, COUNT(*) AS n, SUM(o.amount) AS revenue FROM {O_P} GROUP BY p.category", keys=1),
    Query("q16_join_products_brand",
          f"SELECT p.brand, COUNT(*) AS n FROM {O_P} GROUP BY p.brand", keys=1, unknown_keys=True,
          support=f"SELECT p.brand, COUNT(DISTINCT o.user_id) FROM {O_P} GROUP BY p.brand"),
    Query("q17_three_way_group",
          f"SELECT u.plan, p.category, COUNT(*) AS n, SUM(o.amount) AS revenue FROM {O_U_P} "
          "GROUP BY u.plan, p.category", keys=2),
    Query("q18_three_way_having",
          f"SELECT u.country, p.category, COUNT(*) AS n FROM {O_U_P} WHERE o.status <> 'cancelled' "
          "GROUP BY u.country, p.category HAVING COUNT(*) > 5000", keys=2),
    Query("q19_median_amount", "SELECT MEDIAN(amount) AS median_amount FROM shop.orders"),
)

EPSILON = 1.0
DELTA = 1e-6
