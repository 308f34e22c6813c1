-- darter/host.lua: the trusted Lua side of one analyzer state.
--
-- Run once per state by analyzers/analyzer.c with (ffi, lua_dir, opts),
-- before any script code; returns the table H the C host drives:
--   H.slot      cdata const struct darter_flow_record *[1]: C stores the
--               current record here for the length of a call, NULL outside
--   H.sandbox(darter) -> env    the only globals a script sees
--   H.prepare(env) -> plan      what the script wants, and its entry points
--
-- Scripts never get ffi, debug, jit, package/require, io (unless allowed),
-- loaders of files or bytecode, getfenv/setfenv, or the real library tables
-- (they get copies). The record reaches them as an opaque FFI pointer to the
-- slot: it has no fields, no size and no arithmetic, so it cannot be used to
-- read memory; __index runs the getters of flow.lua on the current record
-- and raises an error outside the call.
local ffi, lua_dir, opts = ...
local flow = assert(loadfile(lua_dir .. "/darter/flow.lua"))(ffi)
-- darter.json for every script; Dragonfly MLE scripts (opts.dragonfly):
-- lua/dragonfly/compat.lua
local json = assert(loadfile(lua_dir .. "/dragonfly/json.lua"))()
local DF
if opts.dragonfly then
	DF = assert(loadfile(lua_dir .. "/dragonfly/compat.lua"))(json, opts, io.open)
end

local error, type, pairs, ipairs, setmetatable, rawset = error, type, pairs, ipairs, setmetatable, rawset
local H = {}
H.flow = flow

-- ---------------------------------------------------------------------
-- Record views
-- ---------------------------------------------------------------------
local G = flow.getters
local slot = ffi.new("const struct darter_flow_record *[1]")
H.slot = slot

local function dead()
	error("darter: record view used outside its event (copy the fields you keep)", 3)
end

ffi.cdef "struct darter_flow;"
ffi.metatype("struct darter_flow", {
	__index = function(_, k)
		local p = slot[0]
		if p == nil then
			dead()
		end
		local g = G[k]
		if g == nil then
			return nil
		end
		return g(p)
	end,
	__newindex = function()
		error("darter: the flow record is read-only", 2)
	end,
	__tostring = function()
		return "darter.flow"
	end,
})
-- One view for the state's lifetime: a constant pointer to the slot.
local view = ffi.cast("struct darter_flow *", slot)

-- The table view: a fresh table per event, fields filled on first read.
local cur_table
local table_mt = {
	__index = function(t, k)
		local p = slot[0]
		if t ~= cur_table or p == nil then
			dead()
		end
		local g = G[k]
		if g == nil then
			return nil
		end
		local v = g(p)
		rawset(t, k, v)
		return v
	end,
	__metatable = false,
}

local function table_view()
	local t = setmetatable({}, table_mt)
	cur_table = t
	return t
end

-- ---------------------------------------------------------------------
-- Sandbox
-- ---------------------------------------------------------------------
-- Method calls on strings use the real string table: strip it too, and
-- hide the string metatable from getmetatable.
string.dump = nil
getmetatable("").__metatable = false

local function copy(t)
	local c = {}
	for k, v in pairs(t) do
		c[k] = v
	end
	return c
end

local BASE = { "assert", "error", "ipairs", "next", "pairs", "pcall", "select", "tonumber",
	"tostring", "type", "unpack", "xpcall", "rawequal", "rawget", "rawset", "setmetatable",
	"getmetatable", "_VERSION" }

local real_load, setfenv = load, setfenv

function H.sandbox(darter)
	local env = {}
	for _, k in ipairs(BASE) do
		env[k] = _G[k]
	end
	env.string = copy(string)
	env.table = copy(table)
	env.math = copy(math)
	env.bit = copy(bit)
	env.coroutine = copy(coroutine)
	env.os = { time = os.time, clock = os.clock, date = os.date, difftime = os.difftime }
	if opts.allow_io then
		env.io = copy(io)
	end
	-- Source text only, compiled into this sandbox.
	local function load(chunk, name)
		if type(chunk) ~= "string" then
			return nil, "darter: load takes source text only"
		end
		if chunk:byte(1) == 27 then
			return nil, "darter: bytecode is not allowed"
		end
		local f, err = real_load(chunk, name, "t")
		if not f then
			return nil, err
		end
		return setfenv(f, env)
	end
	env.load, env.loadstring = load, load
	env.collectgarbage = function(what, arg)
		if what == nil or what == "collect" or what == "count" or what == "step" then
			return collectgarbage(what, arg)
		end
		error("darter: collectgarbage('" .. tostring(what) .. "') is not allowed", 2)
	end
	env.print = darter.log
	darter.json = { decode = json.decode, encode = json.encode, null = json.null }
	env.darter = darter
	env._G = env
	if DF then
		DF.install(env, darter)
	end
	return env
end

-- ---------------------------------------------------------------------
-- darter.redis: send and wait are C (analyzer.c); R and E are where the
-- reply callback stores reply values and errors by sequence number.
-- ---------------------------------------------------------------------
local MAX_UNTAKEN = 4096

function H.redis_api(send, wait, R, E)
	local untaken = 0
	local function take(seq)
		while not wait(seq) do -- false: resumed by something else; wait again
		end
		local v, e = R[seq], E[seq]
		R[seq], E[seq] = nil, nil
		if untaken > 0 then
			untaken = untaken - 1
		end
		if e ~= nil then
			return nil, e
		end
		return v
	end
	local function post(...)
		if untaken >= MAX_UNTAKEN then
			-- replies sent but never taken (an event failed between send and
			-- reply, or a script forgot): drop them rather than grow forever
			for k in pairs(R) do
				R[k] = nil
			end
			for k in pairs(E) do
				E[k] = nil
			end
			untaken = 0
		end
		local seq, err = send(...)
		if seq then
			untaken = untaken + 1
		end
		return seq, err
	end
	local redis = {}
	-- call(cmd, ...) -> value | nil, reason (see lua/README.md for the value mapping)
	function redis.call(...)
		local seq, err = post(...)
		if not seq then
			return nil, err
		end
		return take(seq)
	end
	-- pipeline{ {cmd, ...}, ... } -> values, errors: one wait for all replies
	function redis.pipeline(cmds)
		local seqs, vals, errs = {}, {}, {}
		for i = 1, #cmds do
			local seq, err = post(unpack(cmds[i]))
			seqs[i] = seq
			errs[i] = err
		end
		for i = 1, #cmds do
			if seqs[i] then
				local v, e = take(seqs[i])
				vals[i] = v
				errs[i] = e
			end
		end
		return vals, errs
	end
	-- send(cmd, ...) -> handle | nil, reason; reply(handle) -> as call
	redis.send = post
	redis.reply = take
	return redis
end

-- ---------------------------------------------------------------------
-- Entry points
-- ---------------------------------------------------------------------
-- What the script wants, checked, and the functions the C host calls in a
-- coroutine. Errors here are load errors.
function H.prepare(env)
	local wants = env.wants
	if wants ~= nil and type(wants) ~= "table" then
		error("wants must be a table", 0)
	end
	wants = wants or {}
	local plan = { tick_ms = 0, eve = {} }
	local on_flow = env.on_flow
	local df_mode = DF and on_flow == nil and env.on_eve == nil and env.on_input == nil
	if df_mode then
		DF.prepare(env, plan, view, ffi.string) -- loop(msg) takes flows and EVE events
	elseif wants.flow ~= nil or on_flow ~= nil then
		if type(on_flow) ~= "function" then
			error("wants.flow is set but on_flow is not a function", 0)
		end
		local kind = wants.flow or "ffi"
		if kind == "ffi" then
			plan.flow = function()
				return on_flow(view)
			end
		elseif kind == "table" then
			plan.flow = function()
				return on_flow(table_view())
			end
		else
			error("wants.flow must be \"ffi\" or \"table\"", 0)
		end
	end
	if wants.eve ~= nil and not df_mode then
		if type(wants.eve) ~= "table" or type(env.on_eve) ~= "function" then
			error("wants.eve needs a list of event types and an on_eve function", 0)
		end
		for _, t in ipairs(wants.eve) do
			plan.eve[#plan.eve + 1] = tostring(t)
		end
		-- C passes the texts as pointer and length: strings are made here,
		-- where running out of memory is an ordinary error.
		local on_eve, ffi_string = env.on_eve, ffi.string
		plan.on_eve = function(tp, tl, jp, jl)
			return on_eve(ffi_string(tp, tl), ffi_string(jp, jl))
		end
	end
	-- An input script: on_input(line) per raw line of a foreign source; it
	-- calls darter.input(event) for each EVE event it makes of the line.
	if env.on_input ~= nil then
		if type(env.on_input) ~= "function" then
			error("on_input must be a function", 0)
		end
		local on_input, ffi_string = env.on_input, ffi.string
		plan.on_input = function(lp, ll)
			return on_input(ffi_string(lp, ll))
		end
	end
	if wants.tick ~= nil then
		local ms = tonumber(wants.tick)
		if not ms or ms < 1 or ms > 86400000 or type(env.tick) ~= "function" then
			error("wants.tick needs a period in ms (1..86400000) and a tick function", 0)
		end
		plan.tick_ms = math.floor(ms)
		plan.tick = env.tick
	end
	if env.setup ~= nil and type(env.setup) ~= "function" then
		error("setup must be a function", 0)
	end
	plan.setup = env.setup
	if type(env.teardown) == "function" then
		plan.teardown = env.teardown
	end
	return plan
end

return H
