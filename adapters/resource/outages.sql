-- Faults on those cells or on the subscriber's broadband port, newest first.
SELECT f.fault_no, f.ne_no, f.fault_desc, f.occur_tm, f.clear_tm, f.plan_clear_tm
FROM r_fault f
WHERE f.ne_no IN (SELECT g.cell_no FROM r_sim s JOIN r_grid_cell g ON g.grid_cd = s.grid_cd WHERE s.svc_num = :msisdn)
   OR f.ne_no IN (SELECT p.port_no FROM r_bb_port p WHERE p.svc_num = :msisdn)
ORDER BY f.occur_tm DESC
LIMIT 20
