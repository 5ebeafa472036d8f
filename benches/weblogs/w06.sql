-- The last requests of a day, every column
select *
from weblogs
where year = 2024 and month = 12 and day = 31
order by ts desc
limit 10;
