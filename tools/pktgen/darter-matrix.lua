-- darter-matrix.lua: ntop's capture test matrix, sent by pktgen-dpdk at a darter sensor.
--
-- Rows: 1K, 100K and 1M concurrent flows with flows/10 new flows per second, 64 B frames
-- (range mode) or whatever pcap pktgen was started with (pcap mode: IMIX files written by
-- darter-gen, see README.md). Each row: warm up, clear the counters, send for `duration_ms`,
-- stop, and print what pktgen sent (opackets, Mpps) beside the darter counters to read.
--
-- Churn in range mode: the source addresses of a row are a window of N consecutive IPv4
-- addresses in 10.0.0.0/8 (one UDP flow each, fixed ports); every `step_ms` the window
-- slides by N x step / 10 s, so N flows are live at any time and N/10 new ones start per
-- second while as many go idle (darter ends them on its udp "new" timeout: set
-- flow-timeouts.udp.new low on the sensor, see README.md). pktgen rebuilds range packets
-- when a port starts, so each step is stop / move / start (a pause of a few ms per step).
--
-- Not done: TCP handshakes (range mode sends one-way UDP), IPv6, measuring darter (read its
-- counters on the sensor: the stats event or the Prometheus endpoint).
--
-- Run: pktgen -l 0-4 -n 4 -a 0000:03:00.0 -- -P -T -m "[1:2-3].0" -f tools/pktgen/darter-matrix.lua
-- Settings: edit `conf` below, or put a Lua file returning a table of overrides in
-- $DARTER_PKTGEN_CONF (tools/pktgen/matrix.conf.lua is the example).

package.path = package.path .. ";?.lua;test/?.lua;app/?.lua;../?.lua"
require "Pktgen"

local conf = {
	port = "0",                      -- pktgen port facing the sensor's capture port
	dst_mac = "02:00:00:00:00:02",   -- any MAC: the sensor reads a mirror, it does not route
	src_mac = nil,                   -- nil: the port's own
	mode = "range",                  -- "range": 64 B, sliding window; "pcap": the -s file
	rows = {1000, 100000, 1000000},  -- concurrent flows per row (range mode)
	size = 64,                       -- frame size in range mode, FCS included
	rate = 100,                      -- % of line rate
	warmup_ms = 10000,               -- traffic before counting (fills darter's table)
	duration_ms = 60000,             -- counted traffic per row
	step_ms = 1000,                  -- window move period (range mode)
	pause_ms = 15000,                -- between rows: darter expires the previous row's flows
	dst_ip = "172.16.0.1",
	sport = 1024, dport = 53,
	csv = "darter-matrix.csv",       -- one line per row; nil: none
}

local override = os.getenv("DARTER_PKTGEN_CONF")
if override then
	for k, v in pairs(dofile(override)) do conf[k] = v end
end

-- ----------------------------------------------------------------- helpers

local BASE = 10 * 2^24 -- 10.0.0.0
local SPAN = 2^24      -- the window wraps inside 10.0.0.0/8

local function ip(n)
	n = BASE + (n % SPAN)
	return string.format("%d.%d.%d.%d", math.floor(n / 2^24) % 256,
		math.floor(n / 2^16) % 256, math.floor(n / 2^8) % 256, n % 256)
end

local function log(fmt, ...)
	print(string.format(fmt, ...))
end

local function port_tx()
	local st = pktgen.portStats(conf.port, "port")[tonumber(conf.port)]
	return st.opackets, st.obytes, st.oerrors
end

-- Source addresses first .. first + n - 1, one flow each.
local function set_window(first, n)
	local p = conf.port
	pktgen.range.src_ip(p, "start", ip(first))
	pktgen.range.src_ip(p, "min", ip(first))
	pktgen.range.src_ip(p, "max", ip(first + n - 1))
	pktgen.range.src_ip(p, "inc", "0.0.0.1")
end

local function setup_range(n)
	local p = conf.port
	pktgen.stop(p)
	pktgen.set_proto(p, "udp")
	pktgen.range.ip_proto(p, "udp")
	pktgen.range.dst_mac(p, "start", conf.dst_mac)
	if conf.src_mac then pktgen.range.src_mac(p, "start", conf.src_mac) end
	for _, f in ipairs({"start", "min", "max"}) do
		pktgen.range.dst_ip(p, f, conf.dst_ip)
	end
	pktgen.range.dst_ip(p, "inc", "0.0.0.0")
	for _, f in ipairs({"start", "min", "max"}) do
		pktgen.range.src_port(p, f, conf.sport)
		pktgen.range.dst_port(p, f, conf.dport)
		pktgen.range.pkt_size(p, f, conf.size)
	end
	pktgen.range.src_port(p, "inc", 0)
	pktgen.range.dst_port(p, "inc", 0)
	pktgen.range.pkt_size(p, "inc", 0)
	set_window(0, n)
	pktgen.set_range(p, "on")
	pktgen.set(p, "rate", conf.rate)
	pktgen.set(p, "count", 0) -- until stopped
end

-- Send for ms milliseconds, sliding the window; returns the next window start.
local function run_for(ms, n, first)
	local p = conf.port
	local step = conf.step_ms
	local slide = math.max(1, math.floor(n * step / 10000)) -- n/10 new flows per second
	local t = 0
	pktgen.start(p)
	while t < ms do
		pktgen.delay(step)
		t = t + step
		if conf.mode == "range" then
			pktgen.stop(p)
			first = first + slide
			set_window(first, n)
			pktgen.start(p)
		end
	end
	pktgen.stop(p)
	return first
end

-- ---------------------------------------------------------------- the matrix

local out = conf.csv and io.open(conf.csv, "w")
if out then out:write("mode,flows,size,seconds,tx_packets,tx_mpps,tx_gbps,oerrors\n") end

local function row(n)
	local first = 0
	if conf.mode == "range" then setup_range(n) else pktgen.pcap(conf.port, "on") end
	log("row %s flows: warm-up %d s", n or "pcap", conf.warmup_ms / 1000)
	first = run_for(conf.warmup_ms, n or 0, first)
	pktgen.clr()
	log("  >> on the sensor now: note stats.capture.packets / darter_capture_packets")
	local t0 = os.time()
	run_for(conf.duration_ms, n or 0, first)
	pktgen.delay(500) -- let TX counters settle
	local pkts, bytes, oerr = port_tx()
	local secs = conf.duration_ms / 1000
	log("  << sent %d packets in %d s: %.3f Mpps, %.2f Gbit/s, oerrors %d (started %s)",
		pkts, secs, pkts / secs / 1e6, bytes * 8 / secs / 1e9, oerr, os.date("!%H:%M:%S", t0))
	if out then
		out:write(string.format("%s,%s,%s,%d,%d,%.3f,%.3f,%d\n", conf.mode, n or "pcap",
			conf.mode == "range" and conf.size or "pcap", secs, pkts, pkts / secs / 1e6,
			bytes * 8 / secs / 1e9, oerr))
		out:flush()
	end
	pktgen.delay(conf.pause_ms)
end

pktgen.screen("off")
if conf.mode == "range" then
	for _, n in ipairs(conf.rows) do row(n) end
else
	row(nil)
end
if out then out:close() end
log("done%s", conf.csv and (": " .. conf.csv) or "")
