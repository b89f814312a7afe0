SELECT s.iccid_no, s.sim_stat_cd, s.term_model_nm, s.term_5g_flg, s.plan_5g_flg, s.imei_no
FROM r_sim s
WHERE s.svc_num = :msisdn
