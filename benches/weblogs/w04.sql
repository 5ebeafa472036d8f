-- Distinct users per month, the whole year
select month, count(distinct user_id) as users
from weblogs
group by month
order by month;
