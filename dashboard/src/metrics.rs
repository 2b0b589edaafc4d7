//! The server's own request counters and latency histograms, per route
//! template (so cardinality stays bounded whatever the URLs), in the
//! Prometheus text format.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The labels of one request counter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    /// The route template (`/api/consumers/{id}`), never the URL, so
    /// cardinality stays bounded.
    route: String,
    method: String,
    status: u16,
}

/// The labels of one latency histogram.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

/// A latency histogram over [`BUCKETS`] (a plain `fn` so the family's
/// type can be named).
fn latency_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// Requests seen, by (route template, method, status), and their latency
/// by route template.
#[derive(Debug)]
pub struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        HttpMetrics {
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
        }
    }
}

impl HttpMetrics {
    /// Counts one request.
    pub fn record(&self, route: &str, method: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.into(),
                method: method.into(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                route: route.into(),
            })
            .observe(seconds);
    }

    /// Adds the counters and histograms to `registry` (they share their
    /// values with `self`, so one registry per scrape is cheap).
    pub fn register(&self, registry: &mut Registry) {
        // Counters are registered without `_total`; the encoder adds it.
        registry.register(
            "tollgate_http_requests",
            "HTTP requests answered, by route template, method and status",
            self.requests.clone(),
        );
        registry.register(
            "tollgate_http_request_duration_seconds",
            "Time to answer, by route template",
            self.latency.clone(),
        );
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
        m.record("/a\"b", "GET", 200, 0.0005);
        let mut registry = Registry::default();
        m.register(&mut registry);
        let mut out = String::new();
        prometheus_client::encoding::text::encode_registry(&mut out, &registry).unwrap();
        assert!(out.contains("# TYPE tollgate_http_request_duration_seconds histogram\n"));
        assert!(out.contains("# TYPE tollgate_http_requests counter\n"));
        assert!(out.contains(
            "tollgate_http_requests_total{route=\"/api/traffic\",method=\"GET\",status=\"200\"} 2\n"
        ));
        // The encoder puts `le` first; a label set has no order.
        assert!(out.contains(
            "tollgate_http_request_duration_seconds_bucket{le=\"0.005\",route=\"/api/traffic\"} 2\n"
        ));
        assert!(out.contains(
            "tollgate_http_request_duration_seconds_bucket{le=\"+Inf\",route=\"/api/traffic\"} 3\n"
        ));
        assert!(
            out.contains(
                "tollgate_http_request_duration_seconds_count{route=\"/api/traffic\"} 3\n"
            )
        );
        // Label values are escaped, so a route cannot break the format.
        assert!(out.contains("route=\"/a\\\"b\""), "{out}");
    }
}
