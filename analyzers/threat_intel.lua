-- threat_intel.lua: flows and DNS queries that touch known-bad IPs or domains.
--
-- Indicators live in two Redis sets, kept up to date by whatever feeds
-- them (SADD ti:ip 203.0.113.9; SADD ti:domain evil.example): one
-- pipelined round trip per event, without blocking the worker (the
-- coroutine waits; later events queue behind it in order). A flow is
-- checked on both addresses; a DNS query on its name and each parent
-- domain up to two labels (a.b.evil.example checks evil.example too). When
-- Redis is down or slow, lookups fail and are counted in `lookup_errors`,
-- the event goes on unflagged.
wants = { flow = "ffi", eve = { "dns" } }

local ip_set, domain_set = "ti:ip", "ti:domain"
lookup_errors = 0

local function alert(t)
	t.event_type = "alert"
	darter.emit("alerts", t)
end

function on_flow(rec)
	local src, dst = rec.src_ip, rec.dst_ip
	local r, errs = darter.redis.pipeline({
		{ "SISMEMBER", ip_set, src },
		{ "SISMEMBER", ip_set, dst },
	})
	if errs[1] or errs[2] then
		lookup_errors = lookup_errors + 1
		return
	end
	if r[1] == 1 or r[2] == 1 then
		-- no darter.annotate: after a Redis wait the record has gone on
		-- (it would only count late_annotations); the alert carries it all
		local ioc = r[1] == 1 and src or dst
		alert({ flow_id = rec.flow_id, src_ip = src, dest_ip = dst, dest_port = rec.dst_port,
			threat_intel = { type = "ip", indicator = ioc } })
	end
end

-- "a.b.evil.example" -> { "a.b.evil.example", "b.evil.example", "evil.example" }
local function names(q)
	local t = { q }
	local rest = q:match("^[^.]+%.(.+%..+)$")
	while rest do
		t[#t + 1] = rest
		rest = rest:match("^[^.]+%.(.+%..+)$")
	end
	return t
end

function on_eve(etype, text)
	local ev = darter.json.decode(text)
	local q = ev.dns and (ev.dns.rrname or (ev.dns.queries and ev.dns.queries[1] and
		ev.dns.queries[1].rrname))
	if type(q) ~= "string" then
		return
	end
	q = q:lower():gsub("%.$", "")
	local cmds, list = {}, names(q)
	for i, n in ipairs(list) do
		cmds[i] = { "SISMEMBER", domain_set, n }
	end
	local r, errs = darter.redis.pipeline(cmds)
	for i, n in ipairs(list) do
		if errs[i] then
			lookup_errors = lookup_errors + 1
			return
		end
		if r[i] == 1 then
			alert({ flow_id = ev.flow_id, src_ip = ev.src_ip, dest_ip = ev.dest_ip,
				threat_intel = { type = "domain", indicator = n, rrname = q } })
			return
		end
	end
end
