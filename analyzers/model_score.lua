-- model_score.lua: scoring flows with an in-process model (darter.model),
-- where Dragonfly MLE called Redis-ML.
--
-- Loads models/exfil_logistic.json (beside this script) in setup, builds
-- the features of each flow of at least min_bytes, and emits flows whose
-- score (a probability, logistic regression) is at least threshold. Swap in
-- another model file of the same features (a forest, say) without touching
-- the code; the format is in lua/README.md, "Models".
wants = { flow = "ffi" }

local model_path, threshold, min_bytes = "models/exfil_logistic.json", 0.9, 1000
local model

function setup()
	model = assert(darter.model.load(model_path))
end

local log = math.log

function on_flow(rec)
	local up, down = rec.bytes_toserver, rec.bytes_toclient
	local total = up + down
	if total < min_bytes then
		return
	end
	local f = {
		log_up = log(1 + up),
		log_down = log(1 + down),
		pcr = (up - down) / total,
		log_age_s = log(1 + rec.age_us / 1e6),
	}
	local p = model:predict(f)
	if p >= threshold then
		darter.emit("alerts", {
			event_type = "anomaly",
			flow_id = rec.flow_id,
			src_ip = rec.src_ip,
			dest_ip = rec.dst_ip,
			dest_port = rec.dst_port,
			anomaly = { type = "model_score", model = model_path, score = p, features = f },
		})
	end
end
