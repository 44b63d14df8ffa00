//! The small JSON-path syntax of the configuration, shared by matching (`ignore_paths`) and
//! redaction (`redact_paths`).
//!
//! Dotted member names from the top of a body, `*` for any member or array element, `[*]` as a
//! synonym of `.*`, an optional leading `$.`: `ClientToken`, `Targets[*].Values`,
//! `$.Parameters.*`. This module only finds values in a [`Json`] tree; what to do with them is
//! the caller's: matching removes them from live and recorded bodies alike, redaction replaces
//! them in recorded ones.

use crate::json::Json;

/// A parsed path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath {
    segments: Vec<String>,
}

impl JsonPath {
    /// Parses a path, or says what a path looks like.
    pub fn parse(path: &str) -> Result<Self, String> {
        let trimmed = path.strip_prefix("$.").unwrap_or(path);
        let normalized = trimmed.replace("[*]", ".*");
        let segments: Vec<String> = normalized.split('.').map(str::to_owned).collect();
        if trimmed.is_empty() || segments.iter().any(String::is_empty) {
            return Err(format!(
                "'{path}' is not a JSON path such as 'ClientToken' or 'Targets[*].Values'"
            ));
        }
        Ok(Self { segments })
    }

    /// Whether the path reaches any value, that is whether [`Self::remove`] would change
    /// `value`. Reads only, so callers can skip copying a value that has nothing to remove.
    pub fn reaches(&self, value: &Json<'_>) -> bool {
        fn walk(value: &Json<'_>, path: &[String]) -> bool {
            let Some((first, rest)) = path.split_first() else {
                return false;
            };
            match value {
                Json::Object(object) if first == "*" && rest.is_empty() => !object.is_empty(),
                Json::Object(object) if first == "*" => object.iter().any(|(_, v)| walk(v, rest)),
                Json::Object(object) => object
                    .get(first)
                    .is_some_and(|v| rest.is_empty() || walk(v, rest)),
                Json::Array(items) if first == "*" && rest.is_empty() => !items.is_empty(),
                Json::Array(items) if first == "*" => items.iter().any(|v| walk(v, rest)),
                _ => false,
            }
        }
        walk(value, &self.segments)
    }

    /// Removes every value the path reaches.
    pub fn remove(&self, value: &mut Json<'_>) {
        fn walk(value: &mut Json<'_>, path: &[String]) {
            let Some((first, rest)) = path.split_first() else {
                return;
            };
            match value {
                Json::Object(object) if rest.is_empty() && first == "*" => object.clear(),
                Json::Object(object) if rest.is_empty() => {
                    object.remove(first);
                }
                Json::Object(object) if first == "*" => {
                    object.values_mut().for_each(|v| walk(v, rest));
                }
                Json::Object(object) => {
                    if let Some(v) = object.get_mut(first) {
                        walk(v, rest);
                    }
                }
                Json::Array(items) if first == "*" && rest.is_empty() => items.clear(),
                Json::Array(items) if first == "*" => items.iter_mut().for_each(|v| walk(v, rest)),
                _ => {}
            }
        }
        walk(value, &self.segments);
    }

    /// Replaces every value the path reaches with `with`; returns how many were replaced.
    pub fn replace(&self, value: &mut Json<'_>, with: &Json<'static>) -> usize {
        fn walk(value: &mut Json<'_>, path: &[String], with: &Json<'static>) -> usize {
            let Some((first, rest)) = path.split_first() else {
                *value = with.clone();
                return 1;
            };
            match value {
                Json::Object(object) if first == "*" => {
                    object.values_mut().map(|v| walk(v, rest, with)).sum()
                }
                Json::Object(object) => object.get_mut(first).map_or(0, |v| walk(v, rest, with)),
                Json::Array(items) if first == "*" => {
                    items.iter_mut().map(|v| walk(v, rest, with)).sum()
                }
                _ => 0,
            }
        }
        walk(value, &self.segments, with)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    mod replace {
        use super::*;

        #[test]
        fn reaches_members_inside_arrays() {
            let mut body = Json::from(
                &json!({"Parameters": [{"Name": "a", "Value": "s1"}, {"Name": "b", "Value": "s2"}]}),
            );
            let path = JsonPath::parse("Parameters[*].Value").unwrap();
            assert_eq!(path.replace(&mut body, &Json::from("REDACTED")), 2);
            assert_eq!(
                body,
                Json::from(
                    &json!({"Parameters": [{"Name": "a", "Value": "REDACTED"}, {"Name": "b", "Value": "REDACTED"}]})
                )
            );
        }
    }

    mod remove {
        use super::*;

        #[test]
        fn removes_a_top_level_member_with_or_without_dollar() {
            for path in ["ClientToken", "$.ClientToken"] {
                let mut body = Json::from(&json!({"ClientToken": "t", "Name": "n"}));
                JsonPath::parse(path).unwrap().remove(&mut body);
                assert_eq!(body, Json::from(&json!({"Name": "n"})));
            }
        }
    }

    mod reaches {
        use super::*;

        #[test]
        fn says_exactly_when_remove_would_change_the_body() {
            let bodies = [
                json!({}),
                json!({"ClientToken": "t"}),
                json!({"Targets": []}),
                json!({"Targets": [{"Key": "k"}]}),
                json!({"Targets": [{"Key": "k", "Values": ["v"]}]}),
                json!({"Tags": {}}),
                json!({"Tags": {"a": {"Value": 1}}}),
                json!({"Tags": {"a": {"Key": 1}}}),
                json!({"Targets": "not an array", "Tags": [1]}),
            ];
            let paths = [
                "ClientToken",
                "Targets[*].Values",
                "Targets.*",
                "$.Tags.*.Value",
                "Tags.*",
            ];
            let bodies = bodies.each_ref().map(Json::from);
            for path in paths.map(|p| JsonPath::parse(p).unwrap()) {
                for body in &bodies {
                    let mut removed = body.clone();
                    path.remove(&mut removed);
                    assert_eq!(path.reaches(body), &removed != body, "{path:?} on {body}");
                }
            }
        }
    }

    mod parse {
        use super::*;

        #[test]
        fn refuses_empty_segments() {
            assert!(JsonPath::parse("a..b").is_err());
            assert!(JsonPath::parse("").is_err());
        }
    }
}
