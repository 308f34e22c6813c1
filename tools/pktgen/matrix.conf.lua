-- matrix.conf.lua: overrides for darter-matrix.lua (DARTER_PKTGEN_CONF=this file).
-- Only the keys given here change; see `conf` at the top of darter-matrix.lua.
return {
	port = "0",
	dst_mac = "02:00:00:00:00:02",
	rows = {1000, 100000, 1000000},
	size = 64,
	warmup_ms = 10000,
	duration_ms = 60000,
	pause_ms = 15000,
	csv = "darter-matrix-64B.csv",
}
