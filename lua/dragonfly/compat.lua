-- dragonfly/compat.lua: Dragonfly MLE's 2019 analyzer API on darter.
--
-- Loaded by darter/host.lua (trusted) when the analyzer is configured with
-- dragonfly = true; called with (json, opts, io_open). install(env, darter)
-- adds to a sandbox what Dragonfly scripts expect: the dragonfly table,
-- cjson and cjson_safe (dragonfly/json.lua), lua-hiredis's hiredis module,
-- the default_analyzer and default_output globals, and a require that
-- returns those modules or loads a Lua file from the script's directory
-- into the same sandbox. prepare(env, plan, view) makes loop(msg) the
-- event function: flow records arrive as EVE "flow" tables, EVE events as
-- their decoded JSON.
--
-- Differences from Dragonfly MLE, by design:
--  * hiredis never blocks the worker: conn:command suspends the script's
--    coroutine (darter.redis); the connection is the analyzer's own, so
--    connect's host and port are ignored (set redis in darter's config).
--  * conn:command_line splits on white space and sends the words as
--    arguments; nothing in it is a printf format (Dragonfly passed it to
--    redisCommand as the format: traffic text could inject %s/%n).
--  * http_get and dnslookup return nil, "not supported" (they would block),
--    and so does timer_event: use wants.tick and a tick function.
--  * an error in one script is counted for that script only.
local json, opts, io_open = ...
local M = {}

local type, tostring, pairs, ipairs, setmetatable, error, select, unpack, floor =
	type, tostring, pairs, ipairs, setmetatable, error, select, unpack, math.floor
local format, date = string.format, os.date

-- ---------------------------------------------------------------------
-- lua-hiredis
-- ---------------------------------------------------------------------
local function hiredis_module(redis)
	local H = { REPLY_STRING = 1, REPLY_ARRAY = 2, REPLY_INTEGER = 3, REPLY_NIL = 4,
		REPLY_STATUS = 5, REPLY_ERROR = 6 }
	local ro = { __newindex = function() error("hiredis: constant", 2) end, __metatable = false }
	local statuses = {}
	local function status(name)
		local s = statuses[name]
		if s == nil then
			s = setmetatable({ name = name, type = H.REPLY_STATUS }, ro)
			statuses[name] = s
		end
		return s
	end
	H.status = setmetatable({}, { __index = function(_, k) return status(k) end,
		__newindex = ro.__newindex, __metatable = false })
	H.OK, H.PONG, H.QUEUED = status("OK"), status("PONG"), status("QUEUED")
	H.NIL = setmetatable({ name = "NIL", type = H.REPLY_NIL }, ro)

	-- darter.redis values (Redis' scripting mapping) to lua-hiredis ones
	local function convert(v)
		if v == false then
			return H.NIL
		elseif type(v) == "table" then
			if v.ok ~= nil then
				return status(v.ok)
			elseif v.err ~= nil then
				return { name = v.err, type = H.REPLY_ERROR }
			end
			local t = {}
			for i = 1, #v do
				t[i] = convert(v[i])
			end
			return t
		end
		return v
	end
	-- nil, e: a server error is a reply object; no reply at all is nil, err
	local function result(v, e)
		if e ~= nil then
			if e:find("^darter%.redis:") then
				return nil, e
			end
			return { name = e, type = H.REPLY_ERROR }
		end
		return convert(v)
	end

	function H.unwrap_reply(r)
		if type(r) == "table" and r.type == H.REPLY_ERROR then
			return nil, r.name
		elseif type(r) == "table" and r.type == H.REPLY_STATUS then
			return r.name, H.REPLY_STATUS
		end
		return r
	end

	local conn_mt = {}
	conn_mt.__index = conn_mt
	local function live(c)
		if c.closed then
			error("hiredis: connection is closed", 3)
		end
	end
	function conn_mt:command(...)
		live(self)
		return result(redis.call(...))
	end
	-- The line is split on white space: words are arguments, never a format.
	function conn_mt:command_line(line)
		live(self)
		local argv = {}
		for w in tostring(line):gmatch("%S+") do
			argv[#argv + 1] = w
		end
		if #argv == 0 then
			return nil, "hiredis: empty command"
		end
		return result(redis.call(unpack(argv)))
	end
	function conn_mt:append_command(...)
		live(self)
		local h, err = redis.send(...)
		local q = self.pending
		q[#q + 1] = h or { err = err }
	end
	function conn_mt:get_reply()
		live(self)
		local q = self.pending
		if #q == 0 then
			return nil, "hiredis: no command appended"
		end
		local h = table.remove(q, 1)
		if type(h) == "table" then
			return nil, h.err
		end
		return result(redis.reply(h))
	end
	function conn_mt:close()
		self.closed = true
	end

	function H.connect()
		return setmetatable({ pending = {} }, conn_mt)
	end
	return H
end

-- ---------------------------------------------------------------------
-- The sandbox additions
-- ---------------------------------------------------------------------
local function not_supported()
	return nil, "not supported"
end

local function dragonfly_module(darter)
	local D = {}
	function D.analyze_event(tag, tbl)
		return darter.emit("analyzer:" .. tostring(tag), tbl)
	end
	function D.output_event(tag, tbl)
		return darter.emit(tostring(tag), tbl)
	end
	D.forward_event = D.output_event
	function D.log_event(msg)
		return darter.emit("log", { message = tostring(msg) })
	end
	function D.stats_event(tag, tbl)
		if type(tbl) ~= "table" then
			tbl = { value = tbl }
		end
		return darter.emit("stats", { tag = tostring(tag), stats = tbl })
	end
	function D.echo(...)
		darter.log(...)
		return ...
	end
	D.timer_event, D.http_get, D.dnslookup = not_supported, not_supported, not_supported
	return D
end

function M.install(env, darter)
	local cjson, cjson_safe = json.modules()
	local hiredis = hiredis_module(darter.redis)
	local mods = { cjson = cjson, cjson_safe = cjson_safe, hiredis = hiredis }
	env.cjson, env.cjson_safe, env.hiredis = cjson, cjson_safe, hiredis
	env.dragonfly = dragonfly_module(darter)
	env.default_output = opts.default_output
	env.default_analyzer = opts.default_analyzer
	local dir = (opts.script_path or ""):match("^(.*)/[^/]*$") or "."
	-- require: the modules above, or name.lua beside the script, in this sandbox
	env.require = function(name)
		name = tostring(name)
		if mods[name] ~= nil then
			return mods[name]
		end
		if not name:find("^[%w_%-][%w_%-/%.]*$") or name:find("%.%.") then
			error("require: bad module name '" .. name .. "'", 2)
		end
		local path = dir .. "/" .. name:gsub("%.lua$", "") .. ".lua"
		local f = io_open(path, "rb")
		if not f then
			error("require: module '" .. name .. "' not found (" .. path .. ")", 2)
		end
		local src = f:read("*a")
		f:close()
		local chunk, err = env.load(src, "@" .. path)
		if not chunk then
			error(err, 2)
		end
		local r = chunk(name)
		mods[name] = r == nil and true or r
		return mods[name]
	end
end

-- ---------------------------------------------------------------------
-- Events as Dragonfly scripts see them
-- ---------------------------------------------------------------------
local function iso(us)
	local s = floor(us / 1e6)
	return date("!%Y-%m-%dT%H:%M:%S", s) .. format(".%06d+0000", us - s * 1e6)
end

-- The flow record as Suricata's EVE flow event.
local function flow_event(r)
	local t = {
		timestamp = iso(r.end_us),
		flow_id = r.flow_id,
		event_type = "flow",
		src_ip = r.src_ip,
		src_port = r.src_port,
		dest_ip = r.dst_ip,
		dest_port = r.dst_port,
		proto = r.proto_name,
		app_proto = r.app_proto,
		vlan = r.vlan,
		flow = {
			pkts_toserver = r.pkts_toserver,
			pkts_toclient = r.pkts_toclient,
			bytes_toserver = r.bytes_toserver,
			bytes_toclient = r.bytes_toclient,
			start = iso(r.start_us),
			["end"] = iso(r.end_us),
			age = floor(r.age_us / 1e6),
			state = r.state_name,
			reason = r.reason_name,
			alerted = false,
		},
	}
	return t
end
M.flow_event = flow_event

-- loop(msg) as on_flow and on_eve; wants defaults to every flow and EVE event.
function M.prepare(env, plan, view, ffi_string)
	local loop = env.loop
	if type(loop) ~= "function" then
		error("a Dragonfly analyzer defines loop(msg)", 0)
	end
	local wants = env.wants or { flow = "ffi", eve = { "*" } }
	if wants.flow then
		plan.flow = function()
			return loop(flow_event(view))
		end
	end
	if wants.eve then
		for _, t in ipairs(wants.eve) do
			plan.eve[#plan.eve + 1] = tostring(t)
		end
		local decode = json.decode
		plan.on_eve = function(tp, tl, jp, jl)
			return loop(decode(ffi_string(jp, jl)))
		end
	end
	return plan
end

return M
