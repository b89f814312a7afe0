SELECT d.ywdm, d.ywmc, d.spdm, d.yf, d.dgsj, d.dgqd, d.tyjl, d.zt, d.tdsj
FROM yh_zl y
JOIN zzyw_dg d ON d.yhbh = y.yhbh
WHERE y.sjhm = :msisdn
ORDER BY d.dgsj DESC
