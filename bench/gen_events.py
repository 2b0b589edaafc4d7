#!/usr/bin/env python3
"""Writes N realistic gateway access-log lines (400-600 bytes each), mixed
over Kong, APISIX, Envoy, AWS API Gateway, Traefik and NGINX JSON, one per
line. Deterministic for a given N and seed.

Usage: bench/gen_events.py N OUT [SEED]
"""
import json
import random
import sys

n, out = int(sys.argv[1]), sys.argv[2]
rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 42)
base = 1_718_064_000_000  # 2024-06-11T00:00:00Z
consumers = [f"cust-{i:04d}" for i in range(500)]
weights = [1.0 / (i + 1) for i in range(500)]  # Zipf-like popularity
routes = [("pets", "/v1/pets"), ("orders", "/v2/orders"), ("search", "/search"), ("users", "/v1/users"),
          ("inventory", "/inventory/items"), ("billing", "/billing/invoices")]


def status():
    r = rng.random()
    return 200 if r < 0.90 else 201 if r < 0.93 else 404 if r < 0.97 else 429 if r < 0.98 else 500 if r < 0.995 else 503


def iso(ms):
    s, f = divmod(ms, 1000)
    import time
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + f".{f:03d}Z"


with open(out, "w") as fh:
    for i in range(n):
        ts = base + i * 5 + rng.randint(0, 4)
        c = rng.choices(consumers, weights)[0]
        api, path = rng.choice(routes)
        lat = round(rng.lognormvariate(3.0, 0.8), 3)
        up = round(lat * 0.8, 3)
        st = status()
        ip = f"203.0.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        rid = f"{rng.getrandbits(128):032x}"
        k = i % 6
        if k == 0:
            rec = {"request": {"id": rid, "method": "GET", "uri": f"{path}/{i % 1000}?limit=20", "size": 180,
                               "headers": {"host": "api.example.com", "user-agent": "okhttp/4.12.0"}},
                   "response": {"status": st, "size": 1500 + i % 700},
                   "route": {"id": "6c1ea8e2-2a0b-4f6f-8a2e-6f1b8c0f2d11", "name": api},
                   "service": {"id": "f0e1d2c3-b4a5-4968-8776-655443322110", "name": api},
                   "consumer": {"id": c, "username": c}, "authenticated_entity": {"id": "k-" + c},
                   "latencies": {"proxy": int(up), "kong": 2, "request": int(lat)}, "client_ip": ip,
                   "started_at": ts}
        elif k == 1:
            rec = {"upstream": "10.0.4.2:8080", "start_time": ts, "client_ip": ip, "service_id": api,
                   "route_id": api + "-r", "request": {"querystring": {}, "size": 300, "uri": f"{path}?page={i % 9}",
                                                       "url": f"http://api.example.com{path}", "method": "POST",
                                                       "headers": {"host": "api.example.com"}},
                   "response": {"status": st, "size": 640}, "latency": lat, "upstream_latency": up,
                   "consumer": {"username": c}}
        elif k == 2:
            rec = {"start_time": iso(ts), "method": "GET", "path": f"{path}/{i % 500}", "protocol": "HTTP/1.1",
                   "response_code": st, "response_flags": "-", "bytes_received": 0, "bytes_sent": 900,
                   "duration": int(lat), "upstream_service_time": str(int(up)), "request_id": rid,
                   "upstream_cluster": f"outbound|80||{api}.svc.cluster.local", "route_name": api,
                   "downstream_remote_address": ip + ":51234", "user_agent": "Go-http-client/1.1", "consumer": c}
        elif k == 3:
            rec = {"requestId": rid, "ip": ip, "requestTimeEpoch": str(ts), "httpMethod": "GET",
                   "resourcePath": path + "/{id}", "path": f"/prod{path}/{i % 300}", "status": str(st),
                   "protocol": "HTTP/1.1", "responseLength": str(400 + i % 90), "responseLatency": str(int(lat)),
                   "integrationLatency": str(int(up)), "apiId": "a1b2c3d4e5", "apiKeyId": "key-" + c,
                   "authorizer": {"principalId": c}}
        elif k == 4:
            rec = {"ClientAddr": ip + ":53124", "ClientHost": ip, "ClientUsername": c, "DownstreamContentSize": 512,
                   "DownstreamStatus": st, "Duration": int(lat * 1e6), "OriginDuration": int(up * 1e6),
                   "OriginStatus": st, "RequestContentSize": 0, "RequestHost": "api.example.com",
                   "RequestMethod": "GET", "RequestPath": f"{path}?q={i % 77}", "RequestProtocol": "HTTP/2.0",
                   "RouterName": api + "@docker", "ServiceName": api + "@docker", "StartUTC": iso(ts)[:-1] + "123456Z"}
        else:
            rec = {"msec": f"{ts // 1000}.{ts % 1000:03d}", "remote_addr": ip, "remote_user": c,
                   "request": f"GET {path}/{i % 400} HTTP/1.1", "status": str(st), "request_length": "420",
                   "bytes_sent": "1200", "request_time": f"{lat / 1000:.3f}",
                   "upstream_response_time": f"{up / 1000:.3f}", "request_id": rid, "server_name": "api.example.com",
                   "http_user_agent": "python-requests/2.32.3"}
        fh.write(json.dumps(rec, separators=(",", ":")))
        fh.write("\n")
