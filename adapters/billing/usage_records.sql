SELECT x.xdbh, x.lx, x.kssj, x.sl, x.fy, x.dfhm, x.gjdm, x.xqbh
FROM yh_zl y
JOIN xd_jl x ON x.yhbh = y.yhbh
WHERE y.sjhm = :msisdn
  AND x.kssj >= :from AND x.kssj < :to
ORDER BY x.kssj
