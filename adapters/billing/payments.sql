-- The 20 most recent payments and top-ups.
SELECT j.jflsh, j.jfje, j.jfqd, j.jfsj, j.jfzt, j.qdlsh
FROM yh_zl y
JOIN jf_jl j ON j.yhbh = y.yhbh
WHERE y.sjhm = :msisdn
ORDER BY j.jfsj DESC
LIMIT 20
