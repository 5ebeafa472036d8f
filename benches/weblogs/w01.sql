-- One day's requests (Athena's most common query: a partition filter and a count)
select count(*) as requests
from weblogs
where year = 2024 and month = 6 and day = 15;
