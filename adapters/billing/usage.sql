-- Usage per cycle (the current one, then the billed ones), newest first, with roaming by country.
SELECT s.zq, s.tnll, s.tcll, s.tcllf, s.yysc, s.cyy, s.dxts,
       r.gjdm, r.myll, r.myyy, r.myfy, r.ybsx
FROM yh_zl y
JOIN sy_hz s ON s.yhbh = y.yhbh
LEFT JOIN my_sy r ON r.yhbh = s.yhbh AND r.zq = s.zq
WHERE y.sjhm = :msisdn
ORDER BY s.zq DESC, r.gjdm
