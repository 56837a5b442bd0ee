//! Number and age formatting shared by the CLI, the MCP texts and the demo.

pub use sentinel_actors::views::words::thousands;

/// An age in words: `12 s`, `5 min`, `3 h`, `2 d`.
pub fn age(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs / 60),
        3600..86_400 => format!("{} h", secs / 3600),
        _ => format!("{} d", secs / 86_400),
    }
}

/// `42s`, `5m`, `3h`, `2d`: [`age`] for table cells.
pub fn age_short(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86_400 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
        assert_eq!(age(59), "59 s");
        assert_eq!(age(3 * 3600 + 5), "3 h");
        assert_eq!(age(2 * 86_400), "2 d");
    }
}
