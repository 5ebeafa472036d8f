-- The slowest requests of the year, every column
select *
from weblogs
order by latency_ms desc, request_id
limit 10;
