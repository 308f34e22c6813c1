#!/usr/bin/python3
"""gen_eve.py: a large EVE JSON file for tests/input/bench_parse.

Usage: gen_eve.py OUT N EVE.json...

Flow lines come from darter's own output (the EVE.json files, from
`darter -r X.pcap -l DIR`) and from hand-written Suricata 7 flow events;
each written line varies flow_id, addresses, ports, counters and times so
that no two lines are equal. About one line in ten is another Suricata 7
event type (alert, dns, tls, http), written in Suricata's exact format.
The output is repeatable: the random generator is seeded.
"""
import json
import random
import sys

SURICATA_FLOWS = [
    '{"timestamp":"2023-09-12T12:12:44.351034+0200","flow_id":1176185597497618,"in_iface":"eth0","event_type":"flow","src_ip":"10.16.1.11","src_port":49214,"dest_ip":"93.184.216.34","dest_port":80,"proto":"TCP","app_proto":"http","flow":{"pkts_toserver":6,"pkts_toclient":4,"bytes_toserver":479,"bytes_toclient":1872,"start":"2023-09-12T12:12:14.347129+0200","end":"2023-09-12T12:12:14.462385+0200","age":0,"state":"closed","reason":"timeout","alerted":true},"tcp":{"tcp_flags":"1b","tcp_flags_ts":"1b","tcp_flags_tc":"1b","syn":true,"fin":true,"psh":true,"ack":true,"state":"closed","ts_max_regions":1,"tc_max_regions":1}}',
    '{"timestamp":"2023-09-12T12:13:05.101823+0200","flow_id":1530285404563498,"in_iface":"eth0","event_type":"flow","src_ip":"10.16.1.11","src_port":53226,"dest_ip":"10.16.1.1","dest_port":53,"proto":"UDP","app_proto":"dns","flow":{"pkts_toserver":1,"pkts_toclient":1,"bytes_toserver":71,"bytes_toclient":87,"start":"2023-09-12T12:12:13.101823+0200","end":"2023-09-12T12:12:13.118722+0200","age":0,"state":"established","reason":"timeout","alerted":false}}',
    '{"timestamp":"2023-09-12T12:14:01.000412+0200","flow_id":2008337310592718,"in_iface":"eth0","event_type":"flow","vlan":[100],"src_ip":"2001:0db8:0000:0000:0000:0000:0000:0011","src_port":51812,"dest_ip":"2a00:1450:4001:0829:0000:0000:0000:200e","dest_port":443,"proto":"TCP","app_proto":"tls","flow":{"pkts_toserver":14,"pkts_toclient":17,"bytes_toserver":2311,"bytes_toclient":9876,"start":"2023-09-12T12:13:01.230118+0200","end":"2023-09-12T12:13:02.999802+0200","age":1,"state":"closed","reason":"timeout","alerted":false},"tcp":{"tcp_flags":"1f","tcp_flags_ts":"1f","tcp_flags_tc":"1b","syn":true,"fin":true,"rst":true,"psh":true,"ack":true,"state":"closed","ts_max_regions":1,"tc_max_regions":1}}',
    '{"timestamp":"2023-09-12T12:15:11.554201+0200","flow_id":675544932801423,"in_iface":"eth0","event_type":"flow","src_ip":"10.16.1.11","dest_ip":"8.8.8.8","proto":"ICMP","icmp_type":8,"icmp_code":0,"response_icmp_type":0,"response_icmp_code":0,"flow":{"pkts_toserver":4,"pkts_toclient":4,"bytes_toserver":392,"bytes_toclient":392,"start":"2023-09-12T12:14:08.501337+0200","end":"2023-09-12T12:14:11.504228+0200","age":3,"state":"established","reason":"timeout","alerted":false}}',
]

OTHERS = [
    '{"timestamp":"2023-09-12T12:12:14.462385+0200","flow_id":1176185597497618,"in_iface":"eth0","event_type":"alert","src_ip":"10.16.1.11","src_port":49214,"dest_ip":"93.184.216.34","dest_port":80,"proto":"TCP","pkt_src":"wire/pcap","tx_id":0,"alert":{"action":"allowed","gid":1,"signature_id":2013028,"rev":7,"signature":"ET POLICY curl User-Agent Outbound","category":"Attempted Information Leak","severity":2,"metadata":{"created_at":["2011_06_14"],"updated_at":["2022_05_03"]}},"http":{"hostname":"example.com","url":"/","http_user_agent":"curl/7.88.1","http_content_type":"text/html","http_method":"GET","protocol":"HTTP/1.1","status":200,"length":1256},"app_proto":"http","direction":"to_server","flow":{"pkts_toserver":4,"pkts_toclient":3,"bytes_toserver":373,"bytes_toclient":1766,"start":"2023-09-12T12:12:14.347129+0200","src_ip":"10.16.1.11","dest_ip":"93.184.216.34","src_port":49214,"dest_port":80}}',
    '{"timestamp":"2023-09-12T12:12:13.101823+0200","flow_id":1530285404563498,"in_iface":"eth0","event_type":"dns","src_ip":"10.16.1.11","src_port":53226,"dest_ip":"10.16.1.1","dest_port":53,"proto":"UDP","pkt_src":"wire/pcap","dns":{"type":"query","id":40385,"rrname":"example.com","rrtype":"A","tx_id":0,"opcode":0}}',
    '{"timestamp":"2023-09-12T12:12:13.118722+0200","flow_id":1530285404563498,"in_iface":"eth0","event_type":"dns","src_ip":"10.16.1.1","src_port":53,"dest_ip":"10.16.1.11","dest_port":53226,"proto":"UDP","pkt_src":"wire/pcap","dns":{"version":2,"type":"answer","id":40385,"flags":"8180","qr":true,"rd":true,"ra":true,"opcode":0,"rrname":"example.com","rrtype":"A","rcode":"NOERROR","answers":[{"rrname":"example.com","rrtype":"A","ttl":3600,"rdata":"93.184.216.34"}],"grouped":{"A":["93.184.216.34"]}}}',
    '{"timestamp":"2023-09-12T12:13:01.301944+0200","flow_id":2008337310592718,"in_iface":"eth0","event_type":"tls","vlan":[100],"src_ip":"2001:0db8:0000:0000:0000:0000:0000:0011","src_port":51812,"dest_ip":"2a00:1450:4001:0829:0000:0000:0000:200e","dest_port":443,"proto":"TCP","pkt_src":"wire/pcap","tls":{"subject":"CN=*.google.com","issuerdn":"C=US, O=Google Trust Services LLC, CN=GTS CA 1C3","serial":"6C:2E:1F:0A:9B:55:31:0D:0A:8F:D2:4E:11:2F:3B:90","fingerprint":"3c:9e:17:70:d6:02:19:ad:4e:7a:11:c4:e1:92:7f:6b:0d:3b:8a:25","sni":"www.google.com","version":"TLS 1.2","notbefore":"2023-08-21T08:25:48","notafter":"2023-11-13T08:25:47","ja3":{"hash":"cd08e31494f9531f560d64c695473da9","string":"771,4865-4866-4867-49195-49199-52393-52392-49196-49200-49162-49161-49171-49172-156-157-47-53,0-23-65281-10-11-35-16-5-13-18-51-45-43-27-17513-21,29-23-24,0"},"ja3s":{"hash":"f4febc55ea12b31ae17cfb7e614afda8","string":"771,49199,65281-0-11-35-16"}}}',
    '{"timestamp":"2023-09-12T12:12:14.462385+0200","flow_id":1176185597497618,"in_iface":"eth0","event_type":"http","src_ip":"10.16.1.11","src_port":49214,"dest_ip":"93.184.216.34","dest_port":80,"proto":"TCP","pkt_src":"wire/pcap","tx_id":0,"http":{"hostname":"example.com","url":"/index.html","http_user_agent":"Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0","http_content_type":"text/html","accept":"text/html,application/xhtml+xml","http_method":"GET","protocol":"HTTP/1.1","status":200,"length":1256,"request_headers":[],"response_headers":[]}}',
]


def vary(rng, ev):
    """Change the values a parser reads, keeping the key order."""
    ev["flow_id"] = rng.randrange(1, 1 << 51)
    ip = ev.get("src_ip", "")
    if "." in ip:
        ev["src_ip"] = "10.%d.%d.%d" % (rng.randrange(256), rng.randrange(256), rng.randrange(1, 255))
    if "src_port" in ev:
        ev["src_port"] = rng.randrange(1024, 65536)
    fl = ev.get("flow")
    if isinstance(fl, dict) and "pkts_toserver" in fl:
        for k in ("pkts_toserver", "pkts_toclient"):
            fl[k] = rng.randrange(1, 5000)
        for k in ("bytes_toserver", "bytes_toclient"):
            fl[k] = rng.randrange(60, 5000000)
        if "start" in fl:
            us = "%06d" % rng.randrange(1000000)
            fl["start"] = fl["start"][:20] + us + fl["start"][26:]
    return ev


def main():
    out, n, srcs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    rng = random.Random(6)
    flows = list(SURICATA_FLOWS)
    for path in srcs:
        with open(path) as f:
            flows += [l for l in f if '"event_type":"flow"' in l]
    flows = [json.loads(l) for l in flows]
    others = [json.loads(l) for l in OTHERS]
    with open(out, "w") as f:
        for i in range(n):
            pool = others if i % 10 == 9 else flows
            ev = vary(rng, json.loads(json.dumps(pool[rng.randrange(len(pool))])))
            f.write(json.dumps(ev, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
