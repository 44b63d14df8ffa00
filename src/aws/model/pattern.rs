//! Modeled patterns, matched as AWS's Java service framework matches them: `matches()` (the
//! whole value, even when the pattern has no anchors), `\w \d \s \b` in their ASCII meaning,
//! and `.` excluding Java's line terminators.
//!
//! A pattern is translated from Java's syntax once, then compiled on first use into a dense
//! DFA: searching one needs no mutable cache, so every worker thread shares it. A pattern whose
//! DFA would be large runs on the regex crate's lazy DFA; the few with look-around or
//! back-references, which no automaton can run, go to fancy-regex, a backtracking engine like
//! Java's own; and one class repeated up to 100,000 times is counted rather than compiled
//! (docs/validation.md lists them). This module knows nothing of members or messages.

use std::fmt;
use std::sync::OnceLock;

use regex_automata::dfa::{Automaton, dense};
use regex_automata::{Anchored, Input};
use regex_syntax::hir::{Class, ClassUnicode, HirKind, Look};

/// Java's `\w` in ASCII: what a translated pattern writes instead.
const WORD: &str = "0-9A-Za-z_";
/// Java's `\d`.
const DIGIT: &str = "0-9";
/// Java's `\s`: space, tab, newline, vertical tab, form feed, carriage return.
const SPACE: &str = r"\t\n\x0B\f\r ";
/// What Java's `.` refuses by default: its line terminators.
const LINE_TERMINATORS: &str = r"\n\r\x{85}\x{2028}\x{2029}";
/// Largest DFA built for one pattern: a larger one (the Unicode classes of descriptions and
/// tags) is matched by the regex crate's lazy DFA, which holds a small cache instead of every
/// state.
const DFA_SIZE_LIMIT: usize = 64 << 10;
/// Counted repetitions of one class beyond this are counted, not compiled.
const LONG_RUN: u32 = 1000;

/// A modeled pattern and, once first used, its compiled matcher.
pub struct Pattern {
    modeled: String,
    compiled: OnceLock<Result<Matcher, String>>,
}

/// The engine a pattern runs on.
enum Matcher {
    /// A dense DFA of `\A(?:<pattern>)\z`.
    Automaton(Box<dense::DFA<Vec<u32>>>),
    /// A run of one character class with counted bounds (`^.{1,100000}$`): too many states
    /// for any automaton, and exactly "every character in the class, so many of them".
    ClassRun {
        class: ClassUnicode,
        min: u32,
        max: Option<u32>,
    },
    /// The regex crate, whose lazy DFA keeps a small cache of states: for patterns whose
    /// dense DFA would be large (Unicode classes).
    Lazy(regex::Regex),
    /// fancy-regex, a backtracking engine as Java's is: for look-around and back-references.
    Backtracking(fancy_regex::Regex),
}

/// Which engine a pattern needs; see `Pattern::engine`.
#[cfg(any(test, feature = "harness"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// A DFA.
    Automaton,
    /// A count of the characters of one class.
    ClassRun,
    /// The regex crate's lazy DFA.
    Lazy,
    /// fancy-regex.
    Backtracking,
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Pattern").field(&self.modeled).finish()
    }
}

impl Pattern {
    /// A pattern as modeled; compiled on first use.
    pub fn new(modeled: &str) -> Self {
        Self {
            modeled: modeled.to_owned(),
            compiled: OnceLock::new(),
        }
    }

    /// The pattern exactly as modeled: what messages quote.
    pub fn as_str(&self) -> &str {
        &self.modeled
    }

    /// Whether `text` matches as a whole, as Java's `matches()` answers; `Err` when the
    /// pattern cannot be run (the caller accepts the value: a call AWS accepts must never be
    /// refused) or a backtracking search gave up.
    pub fn matches(&self, text: &str) -> Result<bool, String> {
        match self.compiled() {
            Ok(Matcher::Automaton(dfa)) => {
                let input = Input::new(text).anchored(Anchored::Yes).earliest(true);
                dfa.try_search_fwd(&input)
                    .map(|found| found.is_some())
                    .map_err(|e| e.to_string())
            }
            Ok(Matcher::ClassRun { class, min, max }) => {
                let mut count = 0u32;
                for c in text.chars() {
                    if !class
                        .ranges()
                        .iter()
                        .any(|r| r.start() <= c && c <= r.end())
                    {
                        return Ok(false);
                    }
                    count = count.saturating_add(1);
                }
                Ok(count >= *min && max.is_none_or(|max| count <= max))
            }
            Ok(Matcher::Lazy(regex)) => Ok(regex.is_match(text)),
            Ok(Matcher::Backtracking(regex)) => regex.is_match(text).map_err(|e| e.to_string()),
            Err(reason) => Err(reason.clone()),
        }
    }

    /// Heap bytes of the compiled matcher (0 for engines that do not say), compiling it if
    /// need be.
    #[cfg(any(test, feature = "harness"))]
    pub fn memory_usage(&self) -> usize {
        match self.compiled() {
            Ok(Matcher::Automaton(dfa)) => dfa.memory_usage(),
            _ => 0,
        }
    }

    /// The engine this pattern runs on, compiling it if need be.
    #[cfg(any(test, feature = "harness"))]
    pub fn engine(&self) -> Result<Engine, String> {
        match self.compiled() {
            Ok(Matcher::Automaton(_)) => Ok(Engine::Automaton),
            Ok(Matcher::ClassRun { .. }) => Ok(Engine::ClassRun),
            Ok(Matcher::Lazy(_)) => Ok(Engine::Lazy),
            Ok(Matcher::Backtracking(_)) => Ok(Engine::Backtracking),
            Err(reason) => Err(reason.clone()),
        }
    }

    fn compiled(&self) -> &Result<Matcher, String> {
        self.compiled.get_or_init(|| {
            let translated = translate(&self.modeled);
            // Thousands of counted repetitions cost seconds to turn into states, and a count
            // gives the same answer at once.
            if let Some(run) = class_run(&translated, LONG_RUN) {
                return Ok(run);
            }
            let whole = format!(r"\A(?:{translated})\z");
            let automaton = dense::Builder::new()
                .configure(
                    dense::Config::new()
                        .dfa_size_limit(Some(DFA_SIZE_LIMIT))
                        .determinize_size_limit(Some(DFA_SIZE_LIMIT)),
                )
                .build(&whole);
            if let Ok(dfa) = automaton {
                return Ok(Matcher::Automaton(Box::new(dfa)));
            }
            if let Ok(regex) = regex::Regex::new(&whole) {
                return Ok(Matcher::Lazy(regex));
            }
            fancy_regex::Regex::new(&whole)
                .map(Matcher::Backtracking)
                .map_err(|e| format!("pattern {:?} cannot be compiled: {e}", self.modeled))
        })
    }
}

/// The pattern as a [`Matcher::ClassRun`], if it is one class repeated between anchors, up to
/// more than `longer_than` times.
fn class_run(translated: &str, longer_than: u32) -> Option<Matcher> {
    let hir = regex_syntax::parse(translated).ok()?;
    let inner = match hir.kind() {
        HirKind::Concat(parts) => match parts.as_slice() {
            [start, inner, end]
                if matches!(start.kind(), HirKind::Look(Look::Start))
                    && matches!(end.kind(), HirKind::Look(Look::End)) =>
            {
                inner
            }
            _ => return None,
        },
        _ => &hir,
    };
    let HirKind::Repetition(repetition) = inner.kind() else {
        return None;
    };
    if repetition.max.is_none_or(|max| max <= longer_than) {
        return None;
    }
    let HirKind::Class(Class::Unicode(class)) = repetition.sub.kind() else {
        return None;
    };
    Some(Matcher::ClassRun {
        class: class.clone(),
        min: repetition.min,
        max: repetition.max,
    })
}

/// Java regular-expression syntax in the syntax of the `regex` crate family, meaning kept:
/// the shorthand classes spelled out in ASCII, `.` without Java's line terminators, `\b` as
/// an ASCII word boundary, and class characters that Rust reads as set operators (`--`,
/// `~~`) escaped. Everything else (groups, look-around, back-references, `\p{..}`, escapes)
/// is written as it is.
pub fn translate(java: &str) -> String {
    let mut out = String::with_capacity(java.len() * 2);
    let mut class_depth = 0usize;
    let mut chars = java.chars().peekable();
    // Set after a shorthand class inside `[...]`: a `-` right after it is a literal in Java.
    let mut after_class_shorthand = false;
    while let Some(c) = chars.next() {
        let was_after_shorthand = std::mem::take(&mut after_class_shorthand);
        match c {
            '\\' => {
                let Some(escaped) = chars.next() else {
                    out.push('\\');
                    break;
                };
                let inside = class_depth > 0;
                let spelled = match (escaped, inside) {
                    ('w', false) => Some(format!("[{WORD}]")),
                    ('W', _) => Some(format!("[^{WORD}]")),
                    ('d', false) => Some(format!("[{DIGIT}]")),
                    ('D', _) => Some(format!("[^{DIGIT}]")),
                    ('s', false) => Some(format!("[{SPACE}]")),
                    ('S', _) => Some(format!("[^{SPACE}]")),
                    ('w', true) => Some(WORD.to_owned()),
                    ('d', true) => Some(DIGIT.to_owned()),
                    ('s', true) => Some(SPACE.to_owned()),
                    ('b', false) => Some(format!(
                        "(?:(?<=[{WORD}])(?![{WORD}])|(?<![{WORD}])(?=[{WORD}]))"
                    )),
                    _ => None,
                };
                match spelled {
                    Some(spelled) => {
                        out.push_str(&spelled);
                        after_class_shorthand = inside;
                    }
                    None => {
                        out.push('\\');
                        out.push(escaped);
                    }
                }
            }
            '[' => {
                class_depth += 1;
                out.push('[');
                // A leading `^` negates and a leading `]` is a literal, in both syntaxes.
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
            }
            ']' if class_depth > 0 => {
                class_depth -= 1;
                out.push(']');
            }
            '.' if class_depth == 0 => {
                out.push_str(&format!("[^{LINE_TERMINATORS}]"));
            }
            '-' if class_depth > 0 && (was_after_shorthand || chars.peek() == Some(&'-')) => {
                out.push_str(r"\-");
            }
            '~' if class_depth > 0 && chars.peek() == Some(&'~') => out.push_str(r"\~"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, text: &str) -> bool {
        Pattern::new(pattern).matches(text).unwrap()
    }

    mod translate {
        use super::*;

        #[test]
        fn spells_out_shorthand_classes_in_ascii() {
            assert_eq!(
                translate(r"\w{2}\d\s"),
                r"[0-9A-Za-z_]{2}[0-9][\t\n\x0B\f\r ]"
            );
            assert_eq!(translate(r"[\s\S]"), r"[\t\n\x0B\f\r [^\t\n\x0B\f\r ]]");
        }

        #[test]
        fn keeps_a_dash_after_a_shorthand_class_literal() {
            // `[\w-\/.]` in Java: word characters, '-', '/', '.'.
            assert_eq!(translate(r"[\w-\/.]"), r"[0-9A-Za-z_\-\/.]");
            assert!(matches(r"[\w-\/.]+", "a-b/c.d"));
        }
    }

    mod matches {
        use super::*;

        #[test]
        fn the_whole_value_must_match_even_without_anchors() {
            assert!(matches(r"\w{16,128}", "0123456789abcdef"));
            assert!(!matches(r"\w{16,128}", "0123456789abcdef "));
            assert!(!matches(r"^mw-[0-9a-f]{17}$", "mw-0123456789abcdef0\n"));
            assert!(matches(
                r"^[\p{L}\p{Z}\p{N}_.:/=\-@]*$|resource-groups:Name",
                "resource-groups:Name"
            ));
        }

        #[test]
        fn shorthand_classes_are_ascii_as_in_java() {
            assert!(!matches(r"\w+", "é"));
            assert!(!matches(r"\d", "٣"));
            // An em space is not Java's `\s`, so it is `\S`.
            assert!(matches(r"[\s\S]*\S[\s\S]*", "\u{2003}"));
            assert!(!matches(r"[\s\S]*\S[\s\S]*", " \t\n"));
        }

        #[test]
        fn dot_refuses_javas_line_terminators() {
            for terminator in ["\n", "\r", "\u{85}", "\u{2028}", "\u{2029}"] {
                assert!(!matches(".+", &format!("a{terminator}b")), "{terminator:?}");
            }
            assert!(matches(".+", "a\tb"));
        }

        #[test]
        fn a_long_run_of_one_class_is_counted() {
            let pattern = Pattern::new("^.{1,100000}$");
            assert_eq!(pattern.engine(), Ok(Engine::ClassRun));
            assert!(pattern.matches("x").unwrap());
            assert!(pattern.matches(&"é".repeat(100_000)).unwrap());
            assert!(!pattern.matches(&"x".repeat(100_001)).unwrap());
            assert!(!pattern.matches("").unwrap());
            assert!(!pattern.matches("a\nb").unwrap());
        }

        #[test]
        fn look_ahead_runs_on_the_backtracking_engine() {
            let pattern = Pattern::new(r"^(?!\s*$).+");
            assert_eq!(pattern.engine(), Ok(Engine::Backtracking));
            assert!(pattern.matches("key").unwrap());
            assert!(pattern.matches(" k ").unwrap());
            assert!(!pattern.matches("   ").unwrap());
            assert!(!pattern.matches("").unwrap());
            assert!(!pattern.matches("a\nb").unwrap());
        }
    }
}
