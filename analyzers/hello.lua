-- hello.lua: pass-through. Every flow record goes out to the "flows" sink
-- as a small event, with a per-analyzer sequence number; ticks are counted.
wants = { flow = "ffi", tick = 1000 }

local seen, ticks = 0, 0

function setup()
	darter.log("hello: setup")
end

function on_flow(rec)
	seen = seen + 1
	darter.emit("flows", {
		event_type = "hello",
		seq = seen,
		flow_id = rec.flow_id,
		src_ip = rec.src_ip,
		dest_ip = rec.dst_ip,
		proto = rec.proto_name,
		bytes = rec.bytes,
	})
end

function tick(now_us)
	ticks = ticks + 1
end

function teardown()
	darter.log("hello: " .. seen .. " flows, " .. ticks .. " ticks")
end
