-- Top paths of a month
select path, count(*) as hits, sum(bytes) as bytes
from weblogs
where year = 2024 and month = 3
group by path
order by hits desc, path
limit 10;
