-- darter/flow.lua: the FFI declaration of struct flow_record and its getters.
--
-- Trusted code only (it needs ffi). The declaration must match
-- capture/flow_record.h and capture/appid.h byte for byte: the host checks
-- every field's offset and size against the C compiler's at state creation
-- (analyzer_layout_check) and refuses to load on a mismatch.
--
-- Getters turn a field into a plain Lua value: 64-bit counters become
-- numbers (exact below 2^53), addresses and names become strings. Scripts
-- never see a raw pointer or array: FFI arrays are not bounds checked.
local ffi = ...

ffi.cdef [[
struct darter_appid_result {
	uint16_t proto_id;
	uint16_t master_id;
	uint8_t how;
	char name[21];
	char app[21];
	char category[17];
};

struct darter_flow_record {
	uint64_t flow_id;
	uint64_t start_us;
	uint64_t end_us;
	uint64_t pkts_toserver;
	uint64_t pkts_toclient;
	uint64_t bytes_toserver;
	uint64_t bytes_toclient;
	uint8_t src_ip[16];
	uint8_t dst_ip[16];
	uint16_t src_port;
	uint16_t dst_port;
	uint16_t vlan[2];
	uint16_t lcore;
	uint8_t ip_version;
	uint8_t proto;
	uint8_t state;
	uint8_t reason;
	uint8_t tcp_flags_ts;
	uint8_t tcp_flags_tc;
	uint8_t tcp_state;
	uint8_t icmp_type;
	uint8_t icmp_code;
	uint8_t resp_icmp_type;
	uint8_t resp_icmp_code;
	uint8_t flags;
	uint8_t tunnel;
	struct darter_appid_result app;
};

const char *inet_ntop(int af, const void *src, char *dst, uint32_t size);
]]

local M = {}
M.ptr_t = ffi.typeof("const struct darter_flow_record *")
M.size = ffi.sizeof("struct darter_flow_record")

-- Layout as the FFI sees it: name -> { offset, size }; "app.x" for the nested fields.
-- Sizes of integer fields are found by storing -1 and reading the maximum back.
local function field_size(obj, f)
	local v = obj[f]
	if type(v) ~= "number" then
		return ffi.sizeof(v) -- 64-bit box, array or struct reference
	end
	obj[f] = -1
	local max = obj[f]
	return max == 0xff and 1 or max == 0xffff and 2 or max == 0xffffffff and 4 or -1
end

function M.layout()
	local t = {}
	local function add(ct, fields, prefix, base)
		local obj = ffi.new(ct)
		for _, f in ipairs(fields) do
			t[prefix .. f] = { base + ffi.offsetof(ct, f), field_size(obj, f) }
		end
	end
	add("struct darter_flow_record", M.fields, "", 0)
	add("struct darter_appid_result", M.app_fields, "app.",
		ffi.offsetof("struct darter_flow_record", "app"))
	return t
end

M.fields = { "flow_id", "start_us", "end_us", "pkts_toserver", "pkts_toclient",
	"bytes_toserver", "bytes_toclient", "src_ip", "dst_ip", "src_port", "dst_port", "vlan",
	"lcore", "ip_version", "proto", "state", "reason", "tcp_flags_ts", "tcp_flags_tc",
	"tcp_state", "icmp_type", "icmp_code", "resp_icmp_type", "resp_icmp_code", "flags",
	"tunnel", "app" }
M.app_fields = { "proto_id", "master_id", "how", "name", "app", "category" }

-- Names as EVE writes them.
local STATE = { [0] = "new", "established", "closed" }
local REASON = { [0] = "timeout", "forced", "shutdown", "active" }
local TCP_STATE = { [0] = "none", "syn_sent", "syn_recv", "established", "fin_wait1",
	"fin_wait2", "time_wait", "last_ack", "close_wait", "closing", "closed" }
local PROTO = { [1] = "ICMP", [6] = "TCP", [17] = "UDP", [58] = "IPv6-ICMP", [132] = "SCTP" }

local ipbuf = ffi.new("char[48]")
local function ip_text(p, bytes)
	local af = p.ip_version == 6 and 10 or 2 -- AF_INET6, AF_INET (Linux)
	if ffi.C.inet_ntop(af, bytes, ipbuf, 48) == nil then
		return nil
	end
	return ffi.string(ipbuf)
end

local function name_text(chars, n)
	-- the C side always NUL-terminates, but never read past the field
	local len = 0
	while len < n and chars[len] ~= 0 do
		len = len + 1
	end
	return ffi.string(chars, len)
end

local tonumber = tonumber
local G = {}
for _, f in ipairs({ "flow_id", "start_us", "end_us", "pkts_toserver", "pkts_toclient",
	"bytes_toserver", "bytes_toclient" }) do
	G[f] = function(p) return tonumber(p[f]) end
end
for _, f in ipairs({ "src_port", "dst_port", "lcore", "ip_version", "proto", "state", "reason",
	"tcp_flags_ts", "tcp_flags_tc", "tcp_state", "icmp_type", "icmp_code", "resp_icmp_type",
	"resp_icmp_code", "flags", "tunnel" }) do
	G[f] = function(p) return p[f] end
end
-- Field-specific getters, written out so the JIT sees constant keys.
G.bytes_toserver = function(p) return tonumber(p.bytes_toserver) end
G.bytes_toclient = function(p) return tonumber(p.bytes_toclient) end
G.pkts_toserver = function(p) return tonumber(p.pkts_toserver) end
G.pkts_toclient = function(p) return tonumber(p.pkts_toclient) end
G.flow_id = function(p) return tonumber(p.flow_id) end
G.src_port = function(p) return p.src_port end
G.dst_port = function(p) return p.dst_port end
G.proto = function(p) return p.proto end
G.src_ip = function(p) return ip_text(p, p.src_ip) end
G.dst_ip = function(p) return ip_text(p, p.dst_ip) end
G.vlan = function(p) -- EVE: absent when untagged, else the list
	if p.vlan[0] == 0 then
		return nil
	end
	if p.vlan[1] == 0 then
		return { p.vlan[0] }
	end
	return { p.vlan[0], p.vlan[1] }
end
G.bytes = function(p) return tonumber(p.bytes_toserver + p.bytes_toclient) end
G.pkts = function(p) return tonumber(p.pkts_toserver + p.pkts_toclient) end
G.age_us = function(p) return tonumber(p.end_us - p.start_us) end
G.proto_name = function(p) return PROTO[p.proto] or tostring(p.proto) end
G.state_name = function(p) return STATE[p.state] end
G.reason_name = function(p) return REASON[p.reason] end
G.tcp_state_name = function(p) return TCP_STATE[p.tcp_state] end
G.app_proto = function(p) -- EVE app_proto: nDPI's master name, or "failed"
	if p.app.how == 0 then
		return nil
	end
	local s = name_text(p.app.name, 21)
	return s ~= "" and s or "failed"
end
G.app_name = function(p) return name_text(p.app.app, 21) end
G.app_category = function(p) return name_text(p.app.category, 17) end
G.app_id = function(p) return p.app.proto_id end
G.app_master_id = function(p) return p.app.master_id end
M.getters = G

return M
