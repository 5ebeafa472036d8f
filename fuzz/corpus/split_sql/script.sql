-- owl:expect rows = 2
SELECT 'it''s; here' AS a, "col;name" FROM t; /* block ; /* nested ; */ still */
SELECT `x;y` -- comment ;
FROM u;

-- owl:expect file = expected/top.csv
SELECT 1
