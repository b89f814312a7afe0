SELECT z.zhbh, z.zhye, z.xyed, z.zhzt, z.tjyy, z.tjsj, z.yhzh, y.fflx
FROM yh_zl y
JOIN zh_xx z ON z.zhbh = y.zhbh
WHERE y.sjhm = :msisdn
