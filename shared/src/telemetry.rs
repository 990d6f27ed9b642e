//! Logging: `tracing` with JSON lines in Lambda (CloudWatch), readable lines locally.

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// The log filter from `WOOLINK_LOG` or `RUST_LOG` (`info`, `warn,woolink=debug`, …), `info`
/// when neither is set or parses.
fn filter() -> Targets {
    ["WOOLINK_LOG", "RUST_LOG"]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .find_map(|v| parse_filter(&v))
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO))
}

fn parse_filter(spec: &str) -> Option<Targets> {
    let spec = spec.trim();
    if spec.is_empty() {
        return None;
    }
    spec.parse().ok()
}

/// JSON logs without ANSI or timestamps (CloudWatch adds them), for the Lambda functions.
pub fn init_json() {
    // Metrics travel on the same stdout, as EMF lines, when the function is told to.
    crate::metrics::init_from_env();
    let layer = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .without_time()
        .with_writer(std::io::stderr);
    let _ = tracing_subscriber::registry()
        .with(layer)
        .with(filter())
        .try_init();
}

/// Human-readable logs to stderr, for the CLI and the local runner.
pub fn init_pretty() {
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = tracing_subscriber::registry()
        .with(layer)
        .with(filter())
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn filters_parse_the_usual_forms() {
        let t = parse_filter("warn,woolink=debug").expect("parses");
        assert!(t.would_enable("woolink::worker", &Level::DEBUG));
        assert!(!t.would_enable("hyper", &Level::INFO));
        assert!(t.would_enable("hyper", &Level::WARN));
        let t = parse_filter("debug").expect("parses");
        assert!(t.would_enable("anything", &Level::DEBUG));
        assert!(parse_filter("  ").is_none());
        assert!(parse_filter("woolink=loud").is_none());
    }
}
