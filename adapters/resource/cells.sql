-- Cells serving the grid of the customer's registered address, nearest first.
SELECT c.cell_no, c.cell_nm, c.rat_typ, c.oper_stat_cd, g.dist_m
FROM r_sim s
JOIN r_grid_cell g ON g.grid_cd = s.grid_cd
JOIN r_cell c ON c.cell_no = g.cell_no
WHERE s.svc_num = :msisdn
ORDER BY g.dist_m
