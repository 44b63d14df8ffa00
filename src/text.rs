//! Text helpers every layer uses, with no knowledge of any: client-supplied text made safe to
//! echo, and an error rendered with its causes. A leaf: it imports nothing from the crate.

/// Client-supplied text made safe to echo into a message or a log line: control characters
/// escaped, and cut to `max` characters.
pub fn printable(text: &str, max: usize) -> String {
    // Nearly every id is short printable ASCII, which is kept as it is.
    if text.len() <= max && text.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len().min(max + 3));
    for (i, c) in text.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// An error and its causes, `: `-separated: `cannot connect to …: connection refused`.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

/// Text for a Markdown table cell: pipes escaped and backticks made quotes, so the table holds.
pub fn markdown_cell(text: &str) -> String {
    text.replace('|', "\\|").replace('`', "'")
}

#[cfg(test)]
mod tests {
    mod printable {
        #[test]
        fn escapes_controls_and_truncates() {
            assert_eq!(super::super::printable("a\u{0}b\nc", 10), "a\\u{0}b\\nc");
            assert_eq!(super::super::printable("abcdef", 3), "abc…");
        }

        #[test]
        fn keeps_printable_text_up_to_the_limit_and_counts_characters() {
            assert_eq!(super::super::printable("abc", 3), "abc");
            assert_eq!(super::super::printable("a\u{7f}", 5), "a\\u{7f}");
            assert_eq!(super::super::printable("\u{85}x", 5), "\\u{85}x");
            assert_eq!(super::super::printable("ééé", 3), "ééé");
            assert_eq!(super::super::printable("éééé", 3), "ééé…");
        }
    }

    mod chain {
        #[test]
        fn joins_an_error_and_its_causes() {
            let error = Wrapped(std::io::Error::other("connection refused"));
            assert_eq!(
                super::super::chain(&error),
                "cannot connect: connection refused"
            );
        }

        #[derive(Debug)]
        struct Wrapped(std::io::Error);

        impl std::fmt::Display for Wrapped {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("cannot connect")
            }
        }

        impl std::error::Error for Wrapped {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
    }
}
