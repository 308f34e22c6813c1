-- dragonfly/json.lua: a small JSON codec for the cjson / cjson_safe modules.
--
-- Pure Lua, so it runs inside the sandbox under the memory cap and the CPU
-- limit (lua-cjson is a C module built for PUC Lua 5.1; loading C modules
-- into a sandboxed state is exactly what the sandbox forbids). Decoding
-- takes UTF-8 JSON text (RFC 8259) and gives tables; JSON null becomes
-- M.null (a unique value, like cjson.null), never a hole. Depth is limited
-- to 64 and every error names the byte offset. Encoding follows cjson: a
-- table with keys 1..n is an array, other tables are objects, NaN and
-- infinities and cycles are refused.
local M = {}
local byte, sub, find, char, format, concat = string.byte, string.sub, string.find, string.char,
	string.format, table.concat
local floor, huge, tonumber, type, pairs, error, pcall, setmetatable =
	math.floor, math.huge, tonumber, type, pairs, error, pcall, setmetatable

M.null = setmetatable({}, { __tostring = function() return "null" end, __metatable = false })
local MAX_DEPTH = 64

-- ---------------------------------------------------------------------
-- Decoding
-- ---------------------------------------------------------------------
local decode_value

local function fail(pos, what)
	error(format("json: %s at byte %d", what, pos), 0)
end

local function skip(s, i)
	local _, e = find(s, "^[ \t\r\n]*", i)
	return e + 1
end

local function utf8(cp)
	if cp < 0x80 then
		return char(cp)
	elseif cp < 0x800 then
		return char(0xc0 + floor(cp / 0x40), 0x80 + cp % 0x40)
	elseif cp < 0x10000 then
		return char(0xe0 + floor(cp / 0x1000), 0x80 + floor(cp / 0x40) % 0x40, 0x80 + cp % 0x40)
	end
	return char(0xf0 + floor(cp / 0x40000), 0x80 + floor(cp / 0x1000) % 0x40,
		0x80 + floor(cp / 0x40) % 0x40, 0x80 + cp % 0x40)
end

local ESC = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r",
	t = "\t" }

local function decode_string(s, i)
	local parts, n = {}, 0
	i = i + 1
	while true do
		local a, b = find(s, '^[^"\\%c]+', i)
		if a then
			n = n + 1
			parts[n] = sub(s, a, b)
			i = b + 1
		end
		local c = sub(s, i, i)
		if c == '"' then
			return concat(parts), i + 1
		elseif c == "\\" then
			local e = sub(s, i + 1, i + 1)
			if e == "u" then
				local hex = sub(s, i + 2, i + 5)
				if not find(hex, "^%x%x%x%x$") then
					fail(i, "bad \\u escape")
				end
				local cp = tonumber(hex, 16)
				i = i + 6
				if cp >= 0xd800 and cp < 0xdc00 and sub(s, i, i + 1) == "\\u" then
					local lo = tonumber(sub(s, i + 2, i + 5), 16)
					if lo and lo >= 0xdc00 and lo < 0xe000 then
						cp = 0x10000 + (cp - 0xd800) * 0x400 + (lo - 0xdc00)
						i = i + 6
					end
				end
				n = n + 1
				parts[n] = utf8(cp)
			elseif ESC[e] then
				n = n + 1
				parts[n] = ESC[e]
				i = i + 2
			else
				fail(i, "bad escape")
			end
		elseif c == "" then
			fail(i, "unterminated string")
		else
			fail(i, "control character in string")
		end
	end
end

local function decode_array(s, i, depth)
	local t, n = {}, 0
	i = skip(s, i + 1)
	if sub(s, i, i) == "]" then
		return t, i + 1
	end
	while true do
		local v
		v, i = decode_value(s, i, depth + 1)
		n = n + 1
		t[n] = v
		i = skip(s, i)
		local c = sub(s, i, i)
		if c == "]" then
			return t, i + 1
		elseif c ~= "," then
			fail(i, "expected ',' or ']'")
		end
		i = skip(s, i + 1)
	end
end

local function decode_object(s, i, depth)
	local t = {}
	i = skip(s, i + 1)
	if sub(s, i, i) == "}" then
		return t, i + 1
	end
	while true do
		if sub(s, i, i) ~= '"' then
			fail(i, "expected a string key")
		end
		local k, v
		k, i = decode_string(s, i)
		i = skip(s, i)
		if sub(s, i, i) ~= ":" then
			fail(i, "expected ':'")
		end
		v, i = decode_value(s, skip(s, i + 1), depth + 1)
		t[k] = v
		i = skip(s, i)
		local c = sub(s, i, i)
		if c == "}" then
			return t, i + 1
		elseif c ~= "," then
			fail(i, "expected ',' or '}'")
		end
		i = skip(s, i + 1)
	end
end

decode_value = function(s, i, depth)
	if depth > MAX_DEPTH then
		fail(i, "nested too deep")
	end
	local c = sub(s, i, i)
	if c == "{" then
		return decode_object(s, i, depth)
	elseif c == "[" then
		return decode_array(s, i, depth)
	elseif c == '"' then
		return decode_string(s, i)
	elseif c == "t" and sub(s, i, i + 3) == "true" then
		return true, i + 4
	elseif c == "f" and sub(s, i, i + 4) == "false" then
		return false, i + 5
	elseif c == "n" and sub(s, i, i + 3) == "null" then
		return M.null, i + 4
	end
	local a, b = find(s, "^-?%d+%.?%d*[eE]?[-+]?%d*", i)
	if a then
		local v = tonumber(sub(s, a, b))
		if v then
			return v, b + 1
		end
	end
	fail(i, "unexpected character")
end

-- decode(text) -> value; raises "json: reason at byte n"
function M.decode(s)
	if type(s) ~= "string" then
		error("json: decode takes a string", 2)
	end
	local v, i = decode_value(s, skip(s, 1), 0)
	i = skip(s, i)
	if i <= #s then
		fail(i, "trailing text")
	end
	return v
end

-- ---------------------------------------------------------------------
-- Encoding
-- ---------------------------------------------------------------------
local encode_value

local function encode_string(s)
	return '"' .. s:gsub('[%c"\\]', function(c)
		local e = ({ ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r",
			["\t"] = "\\t" })[c]
		return e or format("\\u%04x", byte(c))
	end) .. '"'
end

local function is_array(t)
	local n = #t
	local count = 0
	for _ in pairs(t) do
		count = count + 1
		if count > n then
			return false
		end
	end
	return count == n and n > 0
end

encode_value = function(v, out, seen, depth)
	local tv = type(v)
	if v == nil or v == M.null then
		out[#out + 1] = "null"
	elseif tv == "boolean" then
		out[#out + 1] = v and "true" or "false"
	elseif tv == "number" then
		if v ~= v or v == huge or v == -huge then
			error("json: cannot encode NaN or infinity", 0)
		end
		out[#out + 1] = (v == floor(v) and v > -2 ^ 53 and v < 2 ^ 53) and format("%d", v)
			or format("%.17g", v)
	elseif tv == "string" then
		out[#out + 1] = encode_string(v)
	elseif tv == "table" then
		if seen[v] or depth > MAX_DEPTH then
			error("json: cycle or nesting too deep", 0)
		end
		seen[v] = true
		if is_array(v) then
			out[#out + 1] = "["
			for i = 1, #v do
				if i > 1 then
					out[#out + 1] = ","
				end
				encode_value(v[i], out, seen, depth + 1)
			end
			out[#out + 1] = "]"
		else
			out[#out + 1] = "{"
			local first = true
			for k, x in pairs(v) do
				local tk = type(k)
				if tk ~= "string" and tk ~= "number" then
					error("json: cannot encode a " .. tk .. " key", 0)
				end
				if not first then
					out[#out + 1] = ","
				end
				first = false
				out[#out + 1] = encode_string(tostring(k))
				out[#out + 1] = ":"
				encode_value(x, out, seen, depth + 1)
			end
			out[#out + 1] = "}"
		end
		seen[v] = nil
	else
		error("json: cannot encode a " .. tv, 0)
	end
end

-- encode(value) -> text; raises on what JSON cannot hold
function M.encode(v)
	local out = {}
	encode_value(v, out, {}, 0)
	return concat(out)
end

-- cjson raises errors; cjson_safe returns nil, reason
function M.modules()
	local cjson = { encode = M.encode, decode = M.decode, null = M.null,
		encode_keep_buffer = function() end, decode_max_depth = function() end }
	local safe = { null = M.null }
	function safe.decode(s)
		local ok, v = pcall(M.decode, s)
		if ok then
			return v
		end
		return nil, v
	end
	function safe.encode(v)
		local ok, s = pcall(M.encode, v)
		if ok then
			return s
		end
		return nil, s
	end
	cjson.new = function() return cjson end
	safe.new = function() return safe end
	return cjson, safe
end

return M
