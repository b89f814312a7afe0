-- Bills newest first; one row per itemised charge (rows fold into one bill by `key = ["zdq"]`).
SELECT b.zdq, b.zdze, b.zdzt, b.cdsj, m.fylx, m.fymc, m.fyje, m.ywdm
FROM yh_zl y
JOIN zd_zb b ON b.yhbh = y.yhbh
LEFT JOIN zd_mx m ON m.zdbh = b.zdbh
WHERE y.sjhm = :msisdn
ORDER BY b.zdq DESC, m.mxbh
