-- pcr_outlier.lua: exfiltration, as an outlier of the producer-consumer ratio.
--
-- PCR = (sent - received) / (sent + received) from the client's side of a
-- flow: -1 pure download, +1 pure upload (the producer-consumer ratio
-- presented at FloCon 2014). Each client address gets its own MAD
-- estimator of the PCR of its flows of at least min_bytes (smaller flows
-- have a noisy ratio), so a host that usually consumes and suddenly
-- produces stands out even when other hosts upload all day. A flow is
-- flagged when its PCR is an upper outlier for its host, above min_pcr,
-- and it moved at least min_bytes. At most max_hosts estimators; later
-- hosts are scored on one shared estimator.
wants = { flow = "ffi" }

local min_bytes, min_pcr, max_hosts = 10000, 0.5, 65536
-- PCR lives in [-1, 1]: no log, absolute steps of 0.01 (100 flows cross the range)
local opts = { transform = "none", step = "absolute", eta = 0.01, burn_in = 20, threshold = 3.5 }
local est, nhosts, shared

function setup()
	est, nhosts = {}, 0
	shared = darter.mad.new(opts)
end

local function estimator(host)
	local e = est[host]
	if e == nil then
		if nhosts >= max_hosts then
			return shared
		end
		e = darter.mad.new(opts)
		est[host] = e
		nhosts = nhosts + 1
	end
	return e
end

function on_flow(rec)
	local up, down = rec.bytes_toserver, rec.bytes_toclient
	local total = up + down
	if total < min_bytes then
		return
	end
	local pcr = (up - down) / total
	local host = rec.src_ip
	local score, outlier, z, median = estimator(host):update(pcr)
	if outlier and pcr > min_pcr then
		darter.annotate("pcr_outlier", { pcr = pcr, zscore = z, host_median = median })
		darter.emit("alerts", {
			event_type = "anomaly",
			flow_id = rec.flow_id,
			src_ip = host,
			dest_ip = rec.dst_ip,
			dest_port = rec.dst_port,
			anomaly = { type = "pcr_outlier", pcr = pcr, host_median_pcr = median,
				bytes_toserver = up, bytes_toclient = down, zscore = z, score = score },
		})
	end
end
