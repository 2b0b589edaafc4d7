//! The server's own request counters and latency histograms, per route
//! template (so cardinality stays bounded whatever the URLs), in the
//! Prometheus text format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    /// Cumulative counts per bucket of [`BUCKETS`].
    le: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Requests seen, by (route template, method, status), and their latency
/// by route template.
#[derive(Debug, Default)]
pub struct HttpMetrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
}

impl HttpMetrics {
    /// Counts one request.
    pub fn record(&self, route: &str, method: &str, status: u16, seconds: f64) {
        *self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((route.into(), method.into(), status))
            .or_default() += 1;
        let mut lat = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        let h = lat.entry(route.into()).or_default();
        for (i, le) in BUCKETS.iter().enumerate() {
            if seconds <= *le {
                h.le[i] += 1;
            }
        }
        h.count += 1;
        h.sum += seconds;
    }

    /// The counters in the Prometheus text format.
    pub fn render(&self, out: &mut String) {
        let label = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        let _ = writeln!(
            out,
            "# HELP tollgate_http_requests_total HTTP requests answered, by route template, method and status."
        );
        let _ = writeln!(out, "# TYPE tollgate_http_requests_total counter");
        for ((route, method, status), n) in self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "tollgate_http_requests_total{{route=\"{}\",method=\"{}\",status=\"{status}\"}} {n}",
                label(route),
                label(method)
            );
        }
        let _ = writeln!(
            out,
            "# HELP tollgate_http_request_duration_seconds Time to answer, by route template."
        );
        let _ = writeln!(
            out,
            "# TYPE tollgate_http_request_duration_seconds histogram"
        );
        for (route, h) in self
            .latency
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let route = label(route);
            for (le, n) in BUCKETS.iter().zip(h.le) {
                let _ = writeln!(
                    out,
                    "tollgate_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{le}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "tollgate_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "tollgate_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "tollgate_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.count
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_histograms_render_as_prometheus_text() {
        let m = HttpMetrics::default();
        m.record("/api/traffic", "GET", 200, 0.003);
        m.record("/api/traffic", "GET", 200, 0.2);
        m.record("/api/traffic", "GET", 400, 0.0005);
        let mut out = String::new();
        m.render(&mut out);
        assert!(out.contains(
            "tollgate_http_requests_total{route=\"/api/traffic\",method=\"GET\",status=\"200\"} 2\n"
        ));
        assert!(out.contains(
            "tollgate_http_request_duration_seconds_bucket{route=\"/api/traffic\",le=\"0.005\"} 2\n"
        ));
        assert!(out.contains(
            "tollgate_http_request_duration_seconds_bucket{route=\"/api/traffic\",le=\"+Inf\"} 3\n"
        ));
        assert!(
            out.contains(
                "tollgate_http_request_duration_seconds_count{route=\"/api/traffic\"} 3\n"
            )
        );
    }
}
