-- One day's server errors by path
select path, count(*) as errors
from weblogs
where year = 2024 and month = 6 and day = 15 and status >= 500
group by path
order by errors desc, path
limit 10;
