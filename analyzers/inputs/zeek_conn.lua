-- zeek_conn.lua: an input script. Zeek conn.log lines (JSON writer,
-- LogAscii::use_json=T with epoch timestamps) become Suricata EVE flow
-- events, so MAD and the analyzers see Zeek's connections as flow records.
--
-- How: each line is decoded (darter.json), the 5-tuple, counters, times and
-- conn_state are mapped to the fields engine/eve_in.c requires of a flow
-- event, and the event goes to darter.input. Fields Zeek leaves out (no
-- reply: no duration, bytes or service) count as 0 or are omitted.
-- Counters are IP-level bytes (orig_ip_bytes) when Zeek logs them, as
-- Suricata counts; payload bytes (orig_bytes) otherwise.
--
-- Not here: other Zeek logs (a line with "_path" other than "conn" gives no
-- event), ISO 8601 timestamps (a clear error per line). A line that is not
-- JSON or lacks the connection's addresses raises an error: the host counts
-- it (errors) and goes on with the next line.
local floor, format, date, byte = math.floor, string.format, os.date, string.byte
local decode, null = darter.json.decode, darter.json.null
local bor = bit.bor

-- Zeek's conn_state to Suricata's flow.state.
local STATE = {
	S0 = "new", -- no reply seen
	S1 = "established", -- established, not terminated
	S2 = "established", S3 = "established", OTH = "established",
	SF = "closed", REJ = "closed", RSTO = "closed", RSTR = "closed",
	RSTOS0 = "closed", RSTRH = "closed", SH = "closed", SHR = "closed",
}

-- Zeek's service names that Suricata spells otherwise.
local APP = { ssl = "tls", krb = "krb5", krb_tcp = "krb5", ["gquic"] = "quic" }

-- history letters to TCP flags (upper case: originator; lower: responder)
local FLAGS = { s = 0x02, h = 0x12, a = 0x10, d = 0x18, f = 0x01, r = 0x04 }

local function iso(us)
	local s = floor(us / 1e6)
	return date("!%Y-%m-%dT%H:%M:%S", s) .. format(".%06d+0000", us - s * 1e6)
end

local function num(v)
	if type(v) == "number" and v >= 0 then
		return v
	end
	return nil
end

local function need(t, k)
	local v = t[k]
	if v == nil or v == null then
		error("zeek_conn: no " .. k, 0)
	end
	return v
end

-- A stable numeric flow_id from Zeek's uid (below 2^53: exact in JSON and Lua).
local function flow_id(uid)
	local h1, h2 = 5381, 2166136261
	for i = 1, #uid do
		local c = byte(uid, i)
		h1 = (h1 * 33 + c) % 4294967296
		h2 = (h2 * 31 + c * 7) % 4294967296
	end
	local id = (h1 % 2097152) * 4294967296 + h2
	return id ~= 0 and id or 1
end

local function tcp_flags(history)
	local ts, tc = 0, 0
	for i = 1, #history do
		local c = history:sub(i, i)
		local f = FLAGS[c:lower()]
		if f and c ~= c:lower() then
			ts = bor(ts, f)
		elseif f then
			tc = bor(tc, f)
		end
	end
	return { tcp_flags = format("%02x", bor(ts, tc)), tcp_flags_ts = format("%02x", ts),
		tcp_flags_tc = format("%02x", tc) }
end

local function app_proto(service)
	if type(service) ~= "string" or service == "" then
		return nil
	end
	local first = service:match("^[^,]+")
	return APP[first] or first
end

local function convert(z)
	local ts = need(z, "ts")
	if type(ts) ~= "number" then
		error("zeek_conn: ts is not epoch seconds (use JSON::TS_EPOCH)", 0)
	end
	local src, dst = need(z, "id.orig_h"), need(z, "id.resp_h")
	local sp, dp = num(need(z, "id.orig_p")), num(need(z, "id.resp_p"))
	local proto = tostring(need(z, "proto")):upper()
	local v6 = tostring(src):find(":", 1, true) ~= nil
	local start = floor(ts * 1e6 + 0.5)
	local stop = start + floor((num(z.duration) or 0) * 1e6 + 0.5)
	local ev = {
		timestamp = iso(start),
		flow_id = flow_id(tostring(need(z, "uid"))),
		event_type = "flow",
		src_ip = src,
		dest_ip = dst,
		proto = proto,
		app_proto = app_proto(z.service),
		community_id = type(z.community_id) == "string" and z.community_id or nil,
		flow = {
			pkts_toserver = num(z.orig_pkts) or 0,
			pkts_toclient = num(z.resp_pkts) or 0,
			bytes_toserver = num(z.orig_ip_bytes) or num(z.orig_bytes) or 0,
			bytes_toclient = num(z.resp_ip_bytes) or num(z.resp_bytes) or 0,
			start = iso(start),
			["end"] = iso(stop),
			age = floor((stop - start) / 1e6),
			state = STATE[z.conn_state] or "established",
			reason = "timeout",
			alerted = false,
		},
		zeek = { uid = z.uid, conn_state = z.conn_state, history = z.history },
	}
	if proto == "ICMP" then -- Zeek logs the ICMP type and code as the ports
		ev.proto = v6 and "IPv6-ICMP" or "ICMP"
		ev.icmp_type, ev.icmp_code = sp, dp
	else
		ev.src_port, ev.dest_port = sp, dp
	end
	if proto == "TCP" and type(z.history) == "string" then
		ev.tcp = tcp_flags(z.history)
	end
	return ev
end

function on_input(line)
	local z = decode(line)
	if type(z) ~= "table" then
		error("zeek_conn: not a JSON object", 0)
	end
	if z._path ~= nil and z._path ~= "conn" then
		return -- another Zeek log in the same stream
	end
	local ok, err = darter.input(convert(z))
	if not ok then
		error("zeek_conn: " .. tostring(err), 0)
	end
end
