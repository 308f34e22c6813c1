-- flow_size_outlier.lua: flags flows whose client-to-server byte count is an
-- outlier for their destination port, scored by the MAD core (engine/mad.h),
-- as Dragonfly MLE's example-outlier.lua did with one estimator per key.
--
-- Each (proto, dst_port) gets its own estimator, created on first sight, at
-- most max_keys of them (later keys are scored on the shared one). A flow
-- whose modified z-score exceeds the threshold is emitted to the "alerts"
-- sink and annotated on the record's own output.
wants = { flow = "ffi" }

local max_keys = 4096
local opts = { transform = "log1p", burn_in = 100, threshold = 3.5 }
local est, nkeys, shared

function setup()
	est, nkeys = {}, 0
	shared = darter.mad.new(opts)
end

local function estimator(key)
	local e = est[key]
	if e == nil then
		if nkeys >= max_keys then
			return shared
		end
		e = darter.mad.new(opts)
		est[key] = e
		nkeys = nkeys + 1
	end
	return e
end

function on_flow(rec)
	local bytes = rec.bytes_toserver
	local e = estimator(rec.proto * 65536 + rec.dst_port)
	local score, outlier, z, median = e:update(bytes)
	if outlier then
		darter.annotate("flow_size_outlier", { zscore = z, median_bytes = math.exp(median) - 1 })
		darter.emit("alerts", {
			event_type = "anomaly",
			flow_id = rec.flow_id,
			src_ip = rec.src_ip,
			dest_ip = rec.dst_ip,
			dest_port = rec.dst_port,
			anomaly = { type = "flow_size_outlier", bytes_toserver = bytes, zscore = z, score = score },
		})
	end
end
