SELECT y.tcbh, t.tcmc, t.yzf, t.bhll, t.bhyy, t.bhdx, y.tcsxsj,
       y.yytcbh, p.tcmc AS yytcmc, y.yysxsj, y.hyjssj
FROM yh_zl y
JOIN tc_dy t ON t.tcbh = y.tcbh
LEFT JOIN tc_dy p ON p.tcbh = y.yytcbh
WHERE y.sjhm = :msisdn
