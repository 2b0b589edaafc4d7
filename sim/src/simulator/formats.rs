//! The formats. Each writes what its gateway writes (see schemas/src/decode
//! for the field mappings); strings here never need JSON escaping.

use tollgate_schemas::Gateway;

use crate::catalog::{HOST, RouteSpec};
use crate::config::ENVOY_CONSUMER_FIELD;
use crate::text::{
    put, put_clf_time, put_hex, put_i, put_ms, put_pad, put_rfc3339, put_rfc3339_secs, put_secs_ms,
    put_u, put_uuid,
};

use super::{Consumer, Details, RouteModel, SimEvent};

/// One call to write: the event, its details, and what the line names.
pub(super) struct Line<'a> {
    pub(super) e: &'a SimEvent,
    pub(super) d: &'a Details,
    pub(super) route: &'a RouteModel,
    /// The consumer; `None` for an anonymous call.
    pub(super) c: Option<&'a Consumer>,
    pub(super) ip: &'a str,
    pub(super) ua: &'static str,
    /// The request target: path and query.
    pub(super) target: &'a [u8],
}

impl Line<'_> {
    /// Appends the line in its event's gateway format.
    pub(super) fn write(&self, b: &mut Vec<u8>) {
        match self.e.gateway {
            Gateway::Kong => self.kong(b),
            Gateway::Apisix => self.apisix(b),
            Gateway::Envoy => self.envoy(b),
            Gateway::Aws => self.aws(b),
            Gateway::Tyk => self.tyk(b),
            Gateway::Traefik => self.traefik(b),
            Gateway::Nginx => self.nginx(b),
            Gateway::Clf => self.clf(b),
            Gateway::Canonical => self.canonical(b),
        }
    }

    fn path_len(&self) -> usize {
        self.target
            .iter()
            .position(|&c| c == b'?')
            .unwrap_or(self.target.len())
    }

    fn spec(&self) -> &RouteSpec {
        &self.route.spec
    }

    fn kong(&self, b: &mut Vec<u8>) {
        let e = self.e;
        put(b, r#"{"request":{"id":""#);
        put_hex(b, self.d.id_hi, 16);
        put_hex(b, self.d.id_lo, 16);
        put(b, r#"","method":""#);
        put(b, self.spec().method);
        put(b, r#"","uri":""#);
        b.extend_from_slice(self.target);
        put(b, r#"","url":"https://"#);
        put(b, HOST);
        b.extend_from_slice(self.target);
        put(b, r#"","size":"#);
        put_u(b, e.request_bytes);
        put(b, r#","headers":{"host":""#);
        put(b, HOST);
        put(b, r#"","user-agent":""#);
        put(b, self.ua);
        put(b, r#""}},"response":{"status":"#);
        put_u(b, u64::from(e.status));
        put(b, r#","size":"#);
        put_u(b, e.response_bytes);
        put(
            b,
            r#","headers":{"content-type":"application/json"}},"route":{"id":""#,
        );
        put(b, &self.route.kong_route_id);
        put(b, r#"","name":""#);
        put(b, self.spec().name);
        put(b, r#"","protocols":["https"]},"service":{"id":""#);
        put(b, &self.route.kong_service_id);
        put(b, r#"","name":""#);
        put(b, self.spec().api);
        put(b, r#"","protocol":"http","port":8080},"#);
        if let Some(c) = self.c {
            put(b, r#""consumer":{"id":""#);
            put(b, &c.id);
            put(b, r#"","username":""#);
            put(b, &c.name);
            put(b, r#""},"authenticated_entity":{"id":""#);
            put(b, &c.key_id);
            put(b, r#""},"#);
        }
        let total = e.latency_us / 1000;
        put(b, r#""latencies":{"proxy":"#);
        match e.upstream_us {
            Some(u) => put_u(b, u / 1000),
            None => put(b, "-1"),
        }
        put(b, r#","kong":"#);
        put_u(b, total - e.upstream_us.map_or(0, |u| u / 1000));
        put(b, r#","request":"#);
        put_u(b, total);
        put(b, r#"},"client_ip":""#);
        put(b, self.ip);
        put(b, r#"","started_at":"#);
        put_i(b, e.ts.0);
        put(b, r#","source":""#);
        put(
            b,
            if e.upstream_us.is_some() {
                "upstream"
            } else {
                "kong"
            },
        );
        put(b, r#""}"#);
    }

    fn apisix(&self, b: &mut Vec<u8>) {
        let e = self.e;
        put(b, r#"{"upstream":""#);
        if e.upstream_us.is_some() {
            put(b, "10.0.4.");
            put_u(b, 2 + u64::from(self.d.port % 8));
            put(b, ":8080");
        }
        put(b, r#"","start_time":"#);
        put_i(b, e.ts.0);
        // APISIX logs ngx.req.start_time() * 1000: fractional milliseconds.
        b.push(b'.');
        put_pad(b, u64::from(self.d.sub_ms_ns / 1000), 3);
        put(b, r#","client_ip":""#);
        put(b, self.ip);
        put(b, r#"","service_id":""#);
        put(b, self.spec().api);
        put(b, r#"","route_id":""#);
        put(b, self.spec().name);
        put(b, r#"","request":{"querystring":{},"size":"#);
        put_u(b, e.request_bytes);
        put(b, r#","uri":""#);
        b.extend_from_slice(self.target);
        put(b, r#"","url":"https://"#);
        put(b, HOST);
        b.extend_from_slice(self.target);
        put(b, r#"","headers":{"host":""#);
        put(b, HOST);
        put(b, r#"","user-agent":""#);
        put(b, self.ua);
        put(b, r#""},"method":""#);
        put(b, self.spec().method);
        put(
            b,
            r#""},"response":{"headers":{"content-type":"application/json"},"status":"#,
        );
        put_u(b, u64::from(e.status));
        put(b, r#","size":"#);
        put_u(b, e.response_bytes);
        put(b, r#"},"latency":"#);
        put_ms(b, e.latency_us);
        if let Some(u) = e.upstream_us {
            put(b, r#","upstream_latency":"#);
            put_ms(b, u);
        }
        put(b, r#","apisix_latency":"#);
        put_ms(b, e.latency_us - e.upstream_us.unwrap_or(0));
        put(b, r#","server":{"hostname":"apisix-0","version":"3.9.0"}"#);
        if let Some(c) = self.c {
            put(b, r#","consumer":{"username":""#);
            put(b, &c.id);
            put(b, r#""}"#);
        }
        put(b, "}");
    }

    fn envoy(&self, b: &mut Vec<u8>) {
        let e = self.e;
        put(b, r#"{"start_time":""#);
        put_rfc3339(b, e.ts.0, None);
        put(b, r#"","method":""#);
        put(b, self.spec().method);
        put(b, r#"","path":""#);
        b.extend_from_slice(self.target);
        put(b, r#"","protocol":"HTTP/1.1","response_code":"#);
        put_u(b, u64::from(e.status));
        put(b, r#","response_flags":""#);
        put(
            b,
            match (e.status, e.upstream_us) {
                (504, _) => "UT",
                (503, None) => "UH",
                (429, _) => "RL",
                (502, _) => "UC",
                _ => "-",
            },
        );
        put(b, r#"","bytes_received":"#);
        put_u(b, e.request_bytes);
        put(b, r#","bytes_sent":"#);
        put_u(b, e.response_bytes);
        put(b, r#","duration":"#);
        put_u(b, e.latency_us / 1000);
        put(b, r#","upstream_service_time":"#);
        match e.upstream_us {
            Some(u) => {
                b.push(b'"');
                put_u(b, u / 1000);
                b.push(b'"');
            }
            None => put(b, "null"),
        }
        put(b, r#","x_forwarded_for":null,"user_agent":""#);
        put(b, self.ua);
        put(b, r#"","request_id":""#);
        put_uuid(b, self.d.id_hi, self.d.id_lo);
        put(b, r#"","authority":""#);
        put(b, HOST);
        put(b, r#"","upstream_cluster":""#);
        put(b, self.spec().api);
        put(b, r#"","downstream_remote_address":""#);
        put(b, self.ip);
        b.push(b':');
        put_u(b, u64::from(self.d.port));
        put(b, r#"","route_name":""#);
        put(b, self.spec().name);
        put(b, r#"",""#);
        put(b, ENVOY_CONSUMER_FIELD);
        put(b, r#"":"#);
        match self.c {
            Some(c) => {
                b.push(b'"');
                put(b, &c.id);
                b.push(b'"');
            }
            None => put(b, "null"),
        }
        put(b, "}");
    }

    fn aws(&self, b: &mut Vec<u8>) {
        let e = self.e;
        put(b, r#"{"requestId":""#);
        put_uuid(b, self.d.id_hi, self.d.id_lo);
        put(b, r#"","ip":""#);
        put(b, self.ip);
        put(b, r#"","requestTime":""#);
        put_clf_time(b, e.ts.0);
        put(b, r#"","requestTimeEpoch":""#);
        put_i(b, e.ts.0);
        put(b, r#"","httpMethod":""#);
        put(b, self.spec().method);
        put(b, r#"","routeKey":""#);
        put(b, &self.route.route_key);
        put(b, r#"","path":""#);
        b.extend_from_slice(self.target);
        put(b, r#"","status":""#);
        put_u(b, u64::from(e.status));
        put(b, r#"","protocol":"HTTP/1.1","responseLength":""#);
        put_u(b, e.response_bytes);
        put(b, r#"","responseLatency":""#);
        put_u(b, e.latency_us / 1000);
        put(b, r#"","integrationLatency":""#);
        match e.upstream_us {
            Some(u) => put_u(b, u / 1000),
            None => put(b, "-"),
        }
        put(b, r#"","apiId":""#);
        put(b, self.spec().api);
        put(b, r#"","apiKeyId":""#);
        put(b, self.c.map_or("-", |c| c.key_id.as_str()));
        put(b, r#"","authorizer":{"principalId":""#);
        put(b, self.c.map_or("-", |c| c.id.as_str()));
        put(b, r#""}}"#);
    }

    fn tyk(&self, b: &mut Vec<u8>) {
        let e = self.e;
        let path_len = self.path_len();
        put(b, r#"{"timestamp":""#);
        put_rfc3339(b, e.ts.0, Some(self.d.sub_ms_ns));
        put(b, r#"","method":""#);
        put(b, self.spec().method);
        // The API listens on `/`: `path` is the path, `raw_path` the target.
        put(b, r#"","path":""#);
        b.extend_from_slice(&self.target[..path_len]);
        put(b, r#"","raw_path":""#);
        b.extend_from_slice(self.target);
        put(b, r#"","response_code":"#);
        put_u(b, u64::from(e.status));
        put(b, r#","alias":""#);
        put(b, self.c.map_or("", |c| c.name.as_str()));
        put(b, r#"","api_key":""#);
        put(b, self.c.map_or("", |c| c.key_hash.as_str()));
        put(b, r#"","api_version":"v1","api_name":""#);
        put(b, self.spec().api);
        put(b, r#"","api_id":""#);
        put(b, self.spec().api);
        put(b, r#"","org_id":"5f0c1e2d","oauth_id":""#);
        put(b, self.c.map_or("", |c| c.id.as_str()));
        put(b, r#"","request_time_ms":"#);
        put_u(b, e.latency_us / 1000);
        put(b, r#","latency":{"total":"#);
        put_u(b, e.latency_us / 1000);
        if let Some(u) = e.upstream_us {
            put(b, r#","upstream":"#);
            put_u(b, u / 1000);
        }
        put(b, r#"},"ip_address":""#);
        put(b, self.ip);
        put(b, r#"","host":""#);
        put(b, HOST);
        put(b, r#"","content_length":"#);
        put_u(b, e.request_bytes);
        put(b, r#","user_agent":""#);
        put(b, self.ua);
        put(b, r#"","tags":[]}"#);
    }

    fn traefik(&self, b: &mut Vec<u8>) {
        let e = self.e;
        let ns = |us: u64| us * 1000;
        put(b, r#"{"ClientAddr":""#);
        put(b, self.ip);
        b.push(b':');
        put_u(b, u64::from(self.d.port));
        put(b, r#"","ClientHost":""#);
        put(b, self.ip);
        put(b, r#"","ClientPort":""#);
        put_u(b, u64::from(self.d.port));
        put(b, r#"","ClientUsername":""#);
        put(b, self.c.map_or("-", |c| c.id.as_str()));
        put(b, r#"","DownstreamContentSize":"#);
        put_u(b, e.response_bytes);
        put(b, r#","DownstreamStatus":"#);
        put_u(b, u64::from(e.status));
        put(b, r#","Duration":"#);
        put_u(b, ns(e.latency_us));
        put(b, r#","OriginContentSize":"#);
        put_u(
            b,
            if e.upstream_us.is_some() {
                e.response_bytes
            } else {
                0
            },
        );
        put(b, r#","OriginDuration":"#);
        put_u(b, e.upstream_us.map_or(0, ns));
        put(b, r#","OriginStatus":"#);
        put_u(b, e.upstream_us.map_or(0, |_| u64::from(e.status)));
        put(b, r#","Overhead":"#);
        put_u(b, ns(e.latency_us - e.upstream_us.unwrap_or(0)));
        put(b, r#","RequestAddr":""#);
        put(b, HOST);
        put(b, r#"","RequestContentSize":"#);
        put_u(b, e.request_bytes);
        put(b, r#","RequestHost":""#);
        put(b, HOST);
        put(b, r#"","RequestMethod":""#);
        put(b, self.spec().method);
        put(b, r#"","RequestPath":""#);
        b.extend_from_slice(self.target);
        put(
            b,
            r#"","RequestPort":"-","RequestProtocol":"HTTP/2.0","RequestScheme":"https","RetryAttempts":0,"RouterName":""#,
        );
        put(b, self.spec().name);
        put(b, r#"","ServiceName":""#);
        put(b, self.spec().api);
        put(b, r#"","StartUTC":""#);
        put_rfc3339(b, e.ts.0, Some(self.d.sub_ms_ns));
        put(
            b,
            r#"","entryPointName":"websecure","level":"info","msg":"","request_X-Request-Id":""#,
        );
        put_uuid(b, self.d.id_hi, self.d.id_lo);
        put(b, r#"","time":""#);
        put_rfc3339_secs(b, e.ts.0);
        put(b, r#""}"#);
    }

    fn nginx(&self, b: &mut Vec<u8>) {
        let e = self.e;
        put(b, r#"{"msec":""#);
        put_secs_ms(b, e.ts.0);
        put(b, r#"","remote_addr":""#);
        put(b, self.ip);
        put(b, r#"","remote_user":""#);
        put(b, self.c.map_or("", |c| c.id.as_str()));
        put(b, r#"","request":""#);
        put(b, self.spec().method);
        b.push(b' ');
        b.extend_from_slice(self.target);
        put(b, r#" HTTP/1.1","request_method":""#);
        put(b, self.spec().method);
        put(b, r#"","request_uri":""#);
        b.extend_from_slice(self.target);
        put(b, r#"","status":""#);
        put_u(b, u64::from(e.status));
        put(b, r#"","request_length":""#);
        put_u(b, e.request_bytes);
        put(b, r#"","bytes_sent":""#);
        put_u(b, e.response_bytes);
        put(b, r#"","request_time":""#);
        put_secs_ms(b, (e.latency_us / 1000) as i64);
        put(b, r#"","upstream_response_time":""#);
        match e.upstream_us {
            Some(u) => put_secs_ms(b, (u / 1000) as i64),
            None => put(b, "-"),
        }
        put(b, r#"","request_id":""#);
        put_hex(b, self.d.id_hi, 16);
        put_hex(b, self.d.id_lo, 16);
        put(b, r#"","server_name":""#);
        put(b, self.spec().api);
        put(b, r#"","http_user_agent":""#);
        put(b, self.ua);
        put(b, r#""}"#);
    }

    fn clf(&self, b: &mut Vec<u8>) {
        let e = self.e;
        put(b, self.ip);
        put(b, " - ");
        put(b, self.c.map_or("-", |c| c.id.as_str()));
        put(b, " [");
        put_clf_time(b, e.ts.0);
        put(b, "] \"");
        put(b, self.spec().method);
        b.push(b' ');
        b.extend_from_slice(self.target);
        put(b, " HTTP/1.1\" ");
        put_u(b, u64::from(e.status));
        b.push(b' ');
        // `%b`: Apache writes `-` for a zero-byte body.
        if e.response_bytes == 0 {
            b.push(b'-');
        } else {
            put_u(b, e.response_bytes);
        }
        put(b, " \"-\" \"");
        put(b, self.ua);
        put(b, "\" rt=");
        put_secs_ms(b, (e.latency_us / 1000) as i64);
        put(b, " urt=\"");
        match e.upstream_us {
            Some(u) => put_secs_ms(b, (u / 1000) as i64),
            None => b.push(b'-'),
        }
        b.push(b'"');
    }

    fn canonical(&self, b: &mut Vec<u8>) {
        let e = self.e;
        let path_len = self.path_len();
        put(b, r#"{"event_id":""#);
        put_hex(b, self.d.id_hi, 16);
        put_hex(b, self.d.id_lo, 16);
        put(b, r#"","ts":""#);
        put_rfc3339(b, e.ts.0, None);
        put(b, r#"","gateway":"canonical","consumer":"#);
        match self.c {
            Some(c) => {
                b.push(b'"');
                put(b, &c.id);
                put(b, r#"","consumer_name":""#);
                put(b, &c.name);
                put(b, r#"","api_key_id":""#);
                put(b, &c.key_id);
                b.push(b'"');
            }
            None => put(b, r#"null,"consumer_name":null,"api_key_id":null"#),
        }
        put(b, r#","api":""#);
        put(b, self.spec().api);
        put(b, r#"","route":""#);
        put(b, self.spec().name);
        put(b, r#"","path_template":""#);
        put(b, self.spec().template);
        put(b, r#"","method":""#);
        put(b, self.spec().method);
        put(b, r#"","path":""#);
        b.extend_from_slice(&self.target[..path_len]);
        put(b, r#"","query":"#);
        match self.target.get(path_len + 1..) {
            Some(q) => {
                b.push(b'"');
                b.extend_from_slice(q);
                b.push(b'"');
            }
            None => put(b, "null"),
        }
        put(b, r#","status":"#);
        put_u(b, u64::from(e.status));
        put(b, r#","latency_ms":"#);
        put_ms(b, e.latency_us);
        put(b, r#","upstream_latency_ms":"#);
        match e.upstream_us {
            Some(u) => put_ms(b, u),
            None => put(b, "null"),
        }
        put(b, r#","request_bytes":"#);
        put_u(b, e.request_bytes);
        put(b, r#","response_bytes":"#);
        put_u(b, e.response_bytes);
        put(b, r#","client_ip":""#);
        put(b, self.ip);
        put(b, r#""}"#);
    }
}
