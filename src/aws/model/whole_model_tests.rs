//! White-box tests of the whole model: a valid input generated from the model alone for every
//! operation passes validation, and every modeled pattern compiles on the engine expected.

/// Valid inputs built from the model alone: every member (to a depth), strings drawn from
/// their pattern's syntax tree and sized to their length bounds, numbers inside their range.
mod generate {
    use super::super::pattern::translate;
    use super::super::{Bounds, Kind, ShapeId, ssm};
    use regex_syntax::hir::{Class, Hir, HirKind};
    use serde_json::{Map, Value, json};

    /// Values for the patterns no syntax tree can describe (look-around, back-references),
    /// checked by hand against their Java meaning.
    const BY_HAND: &[(&str, &str)] = &[
        (r"^(?!\s*$).+", "x"),
        (
            r"^([\-]?\d{4}(?!\d{2}\b))((-?)((0[1-9]|1[0-2])(\3([12]\d|0[1-9]|3[01]))?|W([0-4]\d|5[0-2])(-?[1-7])?|(00[1-9]|0[1-9]\d|[12]\d{2}|3([0-5]\d|6[1-6])))([T\s]((([01]\d|2[0-3])((:?)[0-5]\d)?|24\:?00)([\.,]\d(?!:))?)?(\17[0-5]\d([\.,]\d)?)?([zZ]|([\-])([01]\d|2[0-3]):?([0-5]\d)?)?)?)?$",
            "2024-02-25T18:01",
        ),
    ];

    pub(crate) fn value(id: ShapeId, depth: usize) -> Option<Value> {
        let shape = ssm().shape(id);
        Some(match &shape.kind {
            Kind::Structure { members, union } => {
                let mut object = Map::new();
                for member in members {
                    if !member.required && depth >= 4 {
                        continue;
                    }
                    if let Some(value) = value(member.shape, depth + 1) {
                        object.insert(member.name.clone(), value);
                    }
                    if *union && !object.is_empty() {
                        break;
                    }
                }
                Value::Object(object)
            }
            Kind::List { member, length } => {
                let count = count(*length);
                let item = value(*member, depth + 1)?;
                Value::Array(vec![item; count])
            }
            Kind::Map {
                key,
                value: val,
                length,
            } => {
                let mut object = Map::new();
                let Value::String(key) = value(*key, depth + 1)? else {
                    return None;
                };
                if count(*length) > 0 {
                    object.insert(key, value(*val, depth + 1)?);
                }
                Value::Object(object)
            }
            Kind::String {
                length,
                pattern,
                enumeration,
            } => Value::String(match (enumeration.first(), pattern) {
                (Some(first), _) => first.clone(),
                (None, Some(pattern)) => matching(pattern.as_str(), *length),
                (None, None) => "a".repeat(count(*length).max(1)),
            }),
            Kind::Number { min, max } => match (min, max) {
                (Some(min), _) => Value::Number(min.clone()),
                (None, Some(max)) if max.as_f64() < Some(1.0) => Value::Number(max.clone()),
                _ => json!(1),
            },
            Kind::Boolean => json!(true),
            Kind::Timestamp => json!(1_700_000_000),
            Kind::Blob => json!("aGVsbG8="),
        })
    }

    fn count(length: Bounds) -> usize {
        let wanted = length.min.unwrap_or(1).max(1);
        length.max.map_or(wanted, |max| wanted.min(max)) as usize
    }

    /// A string that the pattern's syntax tree produces, its repetitions stretched until its
    /// length is inside `length`.
    fn matching(pattern: &str, length: Bounds) -> String {
        if let Some((_, value)) = BY_HAND.iter().find(|(p, _)| *p == pattern) {
            return (*value).to_owned();
        }
        let hir = regex_syntax::parse(&translate(pattern))
            .unwrap_or_else(|e| panic!("{pattern} has no syntax tree and no value by hand: {e}"));
        for stretch in 0..2100 {
            let mut out = String::new();
            produce(&hir, stretch, &mut out);
            let chars = out.chars().count() as u64;
            if length.min.is_none_or(|min| chars >= min)
                && length.max.is_none_or(|max| chars <= max)
            {
                return out;
            }
        }
        panic!("no string of {pattern} fits {length:?}");
    }

    fn produce(hir: &Hir, stretch: u32, out: &mut String) {
        match hir.kind() {
            HirKind::Empty | HirKind::Look(_) => {}
            HirKind::Literal(literal) => out.push_str(std::str::from_utf8(&literal.0).unwrap()),
            HirKind::Class(Class::Unicode(class)) => {
                let ranges = class.ranges();
                let preferred = ['a', '0', 'A'];
                let c = preferred
                    .into_iter()
                    .find(|c| ranges.iter().any(|r| r.start() <= *c && *c <= r.end()))
                    .unwrap_or(ranges[0].start());
                out.push(c);
            }
            HirKind::Class(Class::Bytes(class)) => out.push(class.ranges()[0].start() as char),
            HirKind::Repetition(repetition) => {
                let times = (repetition.min + stretch).min(repetition.max.unwrap_or(u32::MAX));
                for _ in 0..times {
                    produce(&repetition.sub, stretch, out);
                }
            }
            HirKind::Capture(capture) => produce(&capture.sub, stretch, out),
            HirKind::Concat(items) => items.iter().for_each(|item| produce(item, stretch, out)),
            HirKind::Alternation(branches) => produce(&branches[0], stretch, out),
        }
    }
}

#[test]
fn a_generated_valid_input_of_every_operation_is_accepted() {
    use super::ssm;
    use super::validate::validate;
    use crate::json::Json;

    let mut checked = 0;
    for operation in ssm().operations() {
        let Some(input) = operation.input() else {
            continue;
        };
        let body = generate::value(input, 0).expect("every input shape can be generated");
        let text = body.to_string();
        let Json::Object(object) = Json::parse(text.as_bytes()).unwrap() else {
            panic!("{operation}: not an object");
        };
        assert_eq!(validate(operation, &object), Ok(()), "{operation} {text}");
        checked += 1;
    }
    assert_eq!(checked, 154);
}

#[test]
fn every_modeled_pattern_compiles_and_only_the_listed_ones_leave_the_automata() {
    use super::pattern::Engine;
    use super::{Kind, ssm};

    let mut off_automata: Vec<(Engine, &str)> = ssm()
        .shapes()
        .filter_map(|shape| match &shape.kind {
            Kind::String {
                pattern: Some(pattern),
                ..
            } => {
                let engine = pattern
                    .engine()
                    .unwrap_or_else(|e| panic!("{}: {e}", shape.name));
                matches!(engine, Engine::Backtracking | Engine::ClassRun)
                    .then_some((engine, pattern.as_str()))
            }
            _ => None,
        })
        .collect();
    off_automata.sort_unstable_by_key(|(_, pattern)| *pattern);
    off_automata.dedup();
    // docs/validation.md lists these; a model update that adds one shows up here.
    assert_eq!(
        off_automata,
        [
            (Engine::Backtracking, r"^(?!\s*$).+"),
            (
                Engine::Backtracking,
                r"^([\-]?\d{4}(?!\d{2}\b))((-?)((0[1-9]|1[0-2])(\3([12]\d|0[1-9]|3[01]))?|W([0-4]\d|5[0-2])(-?[1-7])?|(00[1-9]|0[1-9]\d|[12]\d{2}|3([0-5]\d|6[1-6])))([T\s]((([01]\d|2[0-3])((:?)[0-5]\d)?|24\:?00)([\.,]\d(?!:))?)?(\17[0-5]\d([\.,]\d)?)?([zZ]|([\-])([01]\d|2[0-3]):?([0-5]\d)?)?)?)?$"
            ),
            (Engine::ClassRun, r"^.{1,100000}$"),
        ]
    );
}
