-- p95 latency per day of a month
select day, percentile_cont(0.95) within group (order by latency_ms) as p95_ms
from weblogs
where year = 2024 and month = 8
group by day
order by day;
