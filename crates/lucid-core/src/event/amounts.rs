//! Token counts and costs as people read them, the same in the TUI and the CLI.

/// `950`, `12.3k`, `4.1M`.
pub fn format_tokens(n: u64) -> String {
    match n {
        0..=999 => n.to_string(),
        1000..=999_999 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

/// `$0.0031` under a dollar, `$1.24` above.
pub fn format_dollars(usd: f64) -> String {
    if usd < 1.0 {
        format!("${usd:.4}")
    } else {
        format!("${usd:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_at_a_glance() {
        assert_eq!(format_tokens(950), "950");
        assert_eq!(format_tokens(12_345), "12.3k");
        assert_eq!(format_tokens(4_100_000), "4.1M");
        assert_eq!(format_dollars(0.00314), "$0.0031");
        assert_eq!(format_dollars(1.239), "$1.24");
    }
}
