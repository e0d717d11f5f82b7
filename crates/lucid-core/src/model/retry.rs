//! When and how long to wait before retrying a model call.
//!
//! The rules follow the official SDKs: 408, 409, 429 and every 5xx (529 "overloaded"
//! included) are retried, as are connection errors, timeouts and streams cut before the
//! answer ended; a server's `x-should-retry` header overrides the status; the delay is
//! `retry-after-ms`, else `retry-after` (seconds, up to a minute), else
//! `min(0.5 · 2^n, 8) s` minus up to 25 % jitter. This module only decides; the HTTP
//! client in `http` waits and tries again.

use std::time::Duration;

use reqwest::header::HeaderMap;

/// The longest server-requested wait lucid honours; longer ones fall back to backoff.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
const INITIAL_DELAY_S: f64 = 0.5;
const MAX_DELAY_S: f64 = 8.0;

/// Whether an HTTP status is worth another try, before the server's own opinion.
pub fn status_is_retryable(status: u16) -> bool {
    matches!(status, 408 | 409 | 429) || status >= 500
}

/// Whether to retry a failed response: `x-should-retry: true|false` wins over the status.
pub fn should_retry(status: u16, headers: &HeaderMap) -> bool {
    match header_str(headers, "x-should-retry") {
        Some("true") => true,
        Some("false") => false,
        _ => status_is_retryable(status),
    }
}

/// The wait a server asked for, if it asked for a sensible one.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let from_ms = header_str(headers, "retry-after-ms")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|ms| ms.is_finite() && *ms >= 0.0)
        .map(|ms| Duration::from_secs_f64(ms / 1000.0));
    let from_s = || {
        header_str(headers, "retry-after")
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64)
    };
    from_ms.or_else(from_s).filter(|d| *d <= MAX_RETRY_AFTER)
}

/// Exponential backoff for the `retry`-th retry (0-based); `jitter` in `[0, 1)` takes
/// off up to a quarter of the delay.
pub fn backoff(retry: u32, jitter: f64) -> Duration {
    let base = (INITIAL_DELAY_S * 2f64.powi(retry.min(16) as i32)).min(MAX_DELAY_S);
    let jitter = jitter.clamp(0.0, 1.0);
    Duration::from_secs_f64(base * (1.0 - 0.25 * jitter))
}

/// How long to wait before the `retry`-th retry (0-based).
pub fn delay(retry: u32, server_asked: Option<Duration>) -> Duration {
    server_asked.unwrap_or_else(|| backoff(retry, jitter()))
}

/// A number in `[0, 1)` that differs between calls; good enough to spread retries.
fn jitter() -> f64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64);
    let mut x = nanos
        ^ COUNTER
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .rotate_left(17);
    // splitmix64 finaliser
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    #[test]
    fn the_sdk_statuses_are_retried() {
        for status in [408, 409, 429, 500, 502, 503, 529] {
            assert!(status_is_retryable(status), "{status}");
        }
        for status in [400, 401, 403, 404, 422] {
            assert!(!status_is_retryable(status), "{status}");
        }
    }

    #[test]
    fn x_should_retry_overrides_the_status() {
        assert!(!should_retry(503, &headers(&[("x-should-retry", "false")])));
        assert!(should_retry(400, &headers(&[("x-should-retry", "true")])));
        assert!(should_retry(529, &headers(&[])));
    }

    #[test]
    fn retry_after_ms_wins_then_retry_after_seconds() {
        let both = headers(&[("retry-after-ms", "250"), ("retry-after", "3")]);
        assert_eq!(retry_after(&both), Some(Duration::from_millis(250)));
        let seconds = headers(&[("retry-after", "2")]);
        assert_eq!(retry_after(&seconds), Some(Duration::from_secs(2)));
        let absurd = headers(&[("retry-after", "3600")]);
        assert_eq!(retry_after(&absurd), None);
        let date = headers(&[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")]);
        assert_eq!(retry_after(&date), None);
    }

    #[test]
    fn backoff_doubles_caps_at_eight_seconds_and_jitters_down_a_quarter() {
        assert_eq!(backoff(0, 0.0), Duration::from_millis(500));
        assert_eq!(backoff(1, 0.0), Duration::from_secs(1));
        assert_eq!(backoff(3, 0.0), Duration::from_secs(4));
        assert_eq!(backoff(4, 0.0), Duration::from_secs(8));
        assert_eq!(backoff(30, 0.0), Duration::from_secs(8));
        assert_eq!(backoff(0, 1.0), Duration::from_millis(375));
        for _ in 0..100 {
            let d = delay(2, None);
            assert!(d <= Duration::from_secs(2) && d >= Duration::from_millis(1500));
        }
        assert_eq!(
            delay(5, Some(Duration::from_millis(7))),
            Duration::from_millis(7)
        );
    }
}
