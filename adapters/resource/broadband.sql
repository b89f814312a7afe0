SELECT p.bb_acct, p.port_no, p.olt_nm, p.bw_mbps, p.port_stat_cd, p.last_alm_desc, p.last_alm_tm, p.inst_addr
FROM r_bb_port p
WHERE p.svc_num = :msisdn
