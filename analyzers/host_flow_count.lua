-- host_flow_count.lua: hosts that open unusually many flows (scans, worms,
-- beaconing bursts), per window of record time.
--
-- Flows are counted per client address in windows of window_s seconds of
-- the records' own end time (replaying a capture gives the same answer).
-- When a record falls in a later window, every host counted in the closed
-- window updates its own MAD estimator (log of the count) and is flagged
-- when its count is an upper outlier for it and at least min_flows. Hosts
-- are capped at max_hosts per window (the rest are counted in
-- `overflow`); estimators at max_hosts, later hosts share one.
wants = { flow = "ffi" }

local window_s, min_flows, max_hosts = 60, 20, 65536
-- few values (one per window): absolute steps of 0.05 in log units converge in tens of windows
local opts = { transform = "log1p", step = "absolute", eta = 0.05, burn_in = 10, threshold = 3.5 }
local est, nest, shared
local counts, nhosts, window, overflow

function setup()
	est, nest = {}, 0
	shared = darter.mad.new(opts)
	counts, nhosts, window, overflow = {}, 0, nil, 0
end

local function estimator(host)
	local e = est[host]
	if e == nil then
		if nest >= max_hosts then
			return shared
		end
		e = darter.mad.new(opts)
		est[host] = e
		nest = nest + 1
	end
	return e
end

local function close_window(w)
	for host, n in pairs(counts) do
		local score, outlier, z, median = estimator(host):update(n)
		local usual = math.exp(median) - 1
		if outlier and n >= min_flows and n >= 2 * usual then
			darter.emit("alerts", {
				event_type = "anomaly",
				src_ip = host,
				anomaly = { type = "host_flow_count", flows = n, window_start = w * window_s,
					window_s = window_s, host_median = usual, zscore = z,
					score = score },
			})
		end
	end
	counts, nhosts = {}, 0
end

function on_flow(rec)
	local w = math.floor(rec.end_us / (window_s * 1e6))
	if window == nil then
		window = w
	elseif w > window then
		close_window(window)
		window = w
	end
	local host = rec.src_ip
	local n = counts[host]
	if n == nil then
		if nhosts >= max_hosts then
			overflow = overflow + 1
			return
		end
		nhosts = nhosts + 1
		n = 0
	end
	counts[host] = n + 1
end
